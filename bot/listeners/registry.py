"""``/zdm <subcommand>`` routing. A handler's docstring is its ``/zdm help`` text."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from bot.bootstrap import Services
from commands.cards import Card
from commands.errors import UsageError
from commands.text import printable


@dataclass(frozen=True)
class CommandContext:
    args: str  # the words after the subcommand name
    user: str
    channel: str
    ref: str  # correlation id shared by logs and error messages
    services: Services


@dataclass(frozen=True)
class Reply:
    """What to acknowledge with (ephemeral unless ``public``), and optional work to run after the ack."""

    text: str
    card: Card | None = None
    public: bool = False
    then: Callable[[], object] | None = None


Handler = Callable[[CommandContext], Reply]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    handler: Handler

    @property
    def summary(self) -> str:
        return inspect.getdoc(self.handler) or ""


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def command(self, name: str, usage: str = "") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._commands[name] = Command(name, usage, handler)
            return handler

        return register

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
            lines.append(f"{usage}\n    {first}" + (f" {' '.join(rest.split())}" if rest.strip() else ""))
        return lines
