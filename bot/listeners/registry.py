"""``/zdm <subcommand>`` routing. A handler's docstring is its ``/zdm help`` text; its usage line is its grammar's
(``commands.cli.grammar``: the declaration its parser reads from)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from bot.bootstrap import Services
from bot.executor import HEAVY
from bot.lanes import HeavyLane, LaneWork, lane_for
from commands.cards import Card
from commands.errors import ConfigError, UsageError
from commands.permissions import authorize_command, describe
from commands.text import printable


@dataclass(frozen=True)
class CommandContext:
    args: str  # the words after the subcommand name
    user: str
    channel: str
    ref: str  # correlation id shared by logs and error messages
    services: Services
    request_id: str = ""  # Slack's trigger id: the same for a retry of this request
    state_down: bool = False  # the request ledger found the state database down (see ``bot.dedup``)


@dataclass(frozen=True)
class Reply:
    """What to acknowledge with (ephemeral unless ``public``), and optional work to run after the ack."""

    text: str
    card: Card | None = None
    public: bool = False
    then: Callable[[], object] | None = None


Handler = Callable[[CommandContext], Reply]


class Declared(Protocol):
    """A command's declaration (``commands.cli.grammar.Grammar``): what ``/zdm help`` shows as its usage."""

    @property
    def usage(self) -> str: ...


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    handler: Handler

    @property
    def summary(self) -> str:
        return inspect.getdoc(self.handler) or ""


class CommandRegistry:
    """The commands, each behind the role check of its row in the permissions table (``[permissions]``): the one
    place where ``/zdm`` decides who may run what, before the command does anything."""

    def __init__(
        self, permissions: Mapping[str, tuple[str, ...]] | None = None, *, heavy: HeavyLane | None = None
    ) -> None:
        self._commands: dict[str, Command] = {}
        self._permissions = dict(permissions or {})
        self._heavy = heavy

    def command(self, name: str, usage: str = "", *, grammar: Declared | None = None) -> Callable[[Handler], Handler]:
        """Register ``/zdm <name>``; its usage line is ``grammar``'s when it has one (else ``usage`` as written)."""
        shown = grammar.usage if grammar is not None else usage

        def register(handler: Handler) -> Handler:
            self._commands[name] = Command(name, shown, self._authorized(name, handler))
            return handler

        return register

    def _authorized(self, name: str, handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(ctx: CommandContext) -> Reply:
            services = ctx.services
            authorize_command(
                self._permissions, roles=services.roles, audit=services.audit, clock=services.clock,
                actor=ctx.user, command=name, args=ctx.args, correlation_id=ctx.ref,
            )  # fmt: skip
            return self._on_lane(name, ctx, handler(ctx))

        return checked

    def _on_lane(self, name: str, ctx: CommandContext, reply: Reply) -> Reply:
        """Tag the reply's after-ack work with its lane; heavy work is admitted (or refused) here, before the ack,
        and the ack tells its place in line."""
        lane = lane_for(name, ctx.args)
        if reply.then is None or lane is None:
            return reply
        if lane != HEAVY or self._heavy is None:
            return replace(reply, then=LaneWork(lane, reply.then))
        work, position = self._heavy.admit(ctx.user, reply.then)
        text = reply.text + (f" Queued: position {position} in line for heavy work." if position else "")
        return replace(reply, text=text, then=work)

    def check_permissions(self, rows: Iterable[str]) -> None:
        """Every row of ``[permissions]`` names a registered command; ``ConfigError`` for the first that does not."""
        for key in rows:
            if key.split()[0] not in self._commands:
                raise ConfigError(f"zdm.toml: permissions {key!r}: there is no `/zdm {key.split()[0]}` command")

    def resolve(self, text: str) -> tuple[Command, str]:
        words = text.strip().split(maxsplit=1)
        if not words:
            return self._commands["help"], ""
        name = words[0].lower()
        if name not in self._commands:
            shown = printable(words[0], limit=30)
            raise UsageError(f"`/zdm {shown}` is not a zdm command. Type `/zdm help` to see them all.")
        return self._commands[name], words[1] if len(words) > 1 else ""

    def help_lines(self) -> list[str]:
        lines = []
        for command in sorted(self._commands.values(), key=lambda c: c.name):
            first, _, rest = command.summary.partition("\n")
            usage = f"`/zdm {command.name}{' ' + command.usage if command.usage else ''}`"
            text = f"{usage}\n    {first}" + (f" {' '.join(rest.split())}" if rest.strip() else "")
            lines.append(f"{text}\n    _Who:_ {self._who(command.name)}")
        return lines

    def _who(self, name: str) -> str:
        """The command's row, then each subcommand row that differs from it."""
        allowed = describe(self._permissions.get(name, ()))
        subs = [
            f"`{key.split()[1]}`: {describe(roles)}"
            for key, roles in sorted(self._permissions.items())
            if key.startswith(name + " ") and describe(roles) != allowed
        ]
        return allowed + (f" ({'; '.join(subs)})" if subs else "")
