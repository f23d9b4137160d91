"""Schema stage (runbook §2): ``/zdm schema plan|deploy|status|cancel``, the approval buttons, the release record.

Checks that need no database run before Slack's ack (role, environment, a deploy already in flight); linting,
the scratch-database bootstrap and applying run after it. Every deploy is applied under a per-environment lock
shared by all replicas, and applying skips versions already in the history, so a retry never applies twice.

``SchemaService`` is the stage's face; the work is done by its parts: ``planning`` (plan and bootstrap),
``decisions`` (request, approve, cancel), ``applying`` (native or Supabase CLI mode) and ``release_line`` (the
release issue's DB Changes line), sharing one ``context``.
"""

from __future__ import annotations

from collections.abc import Callable

from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import StalePrompt, UserError
from commands.outbox.model import OutboxEntry
from commands.queue.model import Kind
from commands.schema.applying import SchemaApplier
from commands.schema.args import SCHEMA_ARGS, SchemaRequest, parse_schema_args
from commands.schema.context import SchemaContext
from commands.schema.decisions import REQUESTERS, SchemaDecisions
from commands.schema.model import Deploy, Plan
from commands.schema.planning import SchemaPlanner
from commands.schema.ports import SchemaPorts as SchemaPorts  # re-exported: callers build the stage from here
from commands.schema.release_line import ReleaseLine
from commands.schema.views import deploy_card
from commands.text import whole_number

Answer = tuple[str, Card | None, Callable[[], object] | None]


class SchemaService:
    def __init__(self, *, config: RunbookConfig, ports: SchemaPorts) -> None:
        self._p = ports
        self._ctx = SchemaContext(config=config, ports=ports, usage=SCHEMA_ARGS.use())
        self._planner = SchemaPlanner(self._ctx)
        self._release_line = ReleaseLine(self._ctx)
        self._applier = SchemaApplier(self._ctx, release_line=self._release_line)
        self._decisions = SchemaDecisions(self._ctx, planner=self._planner, applier=self._applier)

    # --- /zdm schema -------------------------------------------------------------------------------------------

    def command(self, *, text: str, actor: str) -> Answer:
        request = parse_schema_args(text)
        if request.action == "status":
            return self._status(request)
        env = self._ctx.environment(request.env)
        if request.action == "plan":
            return (
                f"Planning `{env}`: lint, clean bootstrap from zero, pending vs applied. The card follows "
                "in the release channel.",
                None,
                lambda: self.post_plan(env, include_all=request.include_all),
            )
        if request.action == "cancel":
            return self.cancel(env=env, actor=actor), None, None
        self._ctx.require(actor, REQUESTERS, "request schema deploys", env)
        if (queue := self._p.queue) is not None:  # one piece of work per database at a time: now or in line
            with queue.turn(kind=Kind.SCHEMA_DEPLOY, env=env, requester=actor, args=text, defer=True) as turn:
                item = turn.item.id
                if turn.waiting:
                    said = f"Schema deploy to `{env}` is queued as Q{item}: {turn.sentence}."
                    return said, None, lambda: queue.announce(item)
            if item:
                return (
                    f"Checking `{env}` before asking for approval (lint, clean bootstrap). The deploy card follows in "
                    "the release channel.",
                    None,
                    lambda: queue.start_now(item),
                )
        if (active := self._p.deploys.active(env)) is not None:
            raise UserError(
                f"`{env}` already has schema deploy #{active.id} {active.status.value}; approve or cancel it first."
            )
        return (
            f"Checking `{env}` before asking for approval (lint, clean bootstrap). The deploy card follows in the "
            "release channel.",
            None,
            lambda: self.request_deploy(env, actor=actor, include_all=request.include_all, release=request.release),
        )

    def _status(self, request: SchemaRequest) -> Answer:
        if request.deploy_id is not None:
            card = self._ctx.card(self._ctx.load(request.deploy_id))
            return card.title, card, None
        deploys = self._p.deploys.recent(limit=5, env=request.env)
        if not deploys:
            return "No schema deploys yet. Start with `/zdm schema plan <env>`.", None, None
        lines = [deploy_card(d).title for d in deploys]
        return "\n".join(lines), None, None

    def plan(self, env: str, *, include_all: bool = False) -> Plan:
        """Pending vs applied, lint of the pending files (and of the folder's layout), and the clean bootstrap."""
        return self._planner.plan(env, include_all=include_all)

    def post_plan(self, env: str, *, include_all: bool = False) -> str:
        return self._planner.post_plan(env, include_all=include_all)

    def request_deploy(
        self,
        env: str,
        *,
        actor: str,
        include_all: bool = False,
        release: int | None = None,
        break_glass: str | None = None,
    ) -> str:
        """``break_glass``: a confirmed break-glass lets it past a refusing checklist and rollback readiness."""
        return self._decisions.request_deploy(
            env, actor=actor, include_all=include_all, release=release, break_glass=break_glass
        )

    # --- buttons -----------------------------------------------------------------------------------------------

    def approve(self, *, value: str, actor: str) -> str:
        deploy_id, value_hash = _parse_value(value)
        return self._decisions.approve(deploy_id=deploy_id, value_hash=value_hash, actor=actor)

    def cancel(self, *, value: str | None = None, env: str | None = None, actor: str) -> str:
        deploy_id = _parse_value(value)[0] if value else None
        return self._decisions.cancel(deploy_id=deploy_id, env=env, actor=actor)

    # --- applying, records and cards ---------------------------------------------------------------------------

    def resume_unfinished(self) -> None:
        """Finish deploys left "applying" by a crash (scheduler); versions already in the history are skipped."""
        self._applier.resume_unfinished()

    def release_record_delivered(self, entry: OutboxEntry) -> None:
        """``OutboxPorts.on_delivered``: the deploy card says where its DB Changes line is once it lands."""
        self._release_line.delivered(entry)

    def relink_cards(self) -> int:
        """After a restart: refresh the card of each deploy awaiting approval or applying (re-posted if gone)."""
        return self._ctx.relink_cards()

    def deploy(self, deploy_id: int) -> Deploy | None:
        return self._p.deploys.get(deploy_id)

    def recent_deploys(self, *, env: str, limit: int) -> list[Deploy]:
        return self._p.deploys.recent(limit=limit, env=env)


def _parse_value(value: str | None) -> tuple[int, str]:
    text, _, digest = (value or "").partition(":")
    deploy_id = whole_number(text)
    if deploy_id is None:
        raise StalePrompt(what="the button does not name a schema deploy")
    return deploy_id, digest
