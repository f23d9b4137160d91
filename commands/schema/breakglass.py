"""Break-glass on a schema deploy: ``/zdm schema deploy <env> --break-glass "<reason>"``.

Requests the deploy past what would stop it now: a pre-migration checklist that refuses (``checklist.enforce =
"refuse"``) and a broken rollback path (which would block its approvals). The `dba` and `platform_lead` approvals
are still needed: break-glass skips gates, not people.
"""

from __future__ import annotations

from commands.breakglass.model import Skip
from commands.errors import UsageError, UserError
from commands.schema.args import parse_schema_args
from commands.schema.decisions import REQUESTERS
from commands.schema.service import SchemaService

USAGE = 'Usage: `/zdm schema deploy <env> --break-glass "<reason>"`.'


class SchemaBreakGlass(SchemaService):
    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        request = parse_schema_args(text)
        if request.action != "deploy" or request.include_all or request.release is not None:
            raise UsageError(USAGE)
        env = self._ctx.environment(request.env)
        self._ctx.require(actor, REQUESTERS, "request schema deploys", env)
        if (active := self._p.deploys.active(env)) is not None:
            raise UserError(
                f"`{env}` already has schema deploy #{active.id} {active.status.value}; approve or cancel it first."
            )
        plan, _ = self._planner.pending(env, include_all=False)
        names = tuple(m.file_name for m in plan.to_apply)
        if not names:
            raise UserError(f"`{env}` is up to date: nothing to deploy, so nothing to break glass on.")
        gates = []
        checklist = self._p.checklist.preflight(migrations=names) if self._p.checklist else None
        if checklist is not None and checklist.refuse:
            gates.append(f"pre-migration checklist — {checklist.sentence()}")
        if self._p.readiness is not None and not (ready := self._p.readiness.for_deploy(env, names)).ready:
            gates.append(f"rollback readiness — {ready.sentence()}")
        if not gates:
            raise UserError(f"Nothing blocks a schema deploy to `{env}` now; run `/zdm schema deploy {env}`.")
        files = ", ".join(f"`{n}`" for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return Skip(target=env, subject=env, what=f"request a schema deploy of {files} to `{env}`", gates=tuple(gates))

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        if (active := self._p.deploys.active(target)) is not None:
            raise UserError(f"`{target}` has schema deploy #{active.id} {active.status.value} since; nothing new.")
        return self.request_deploy(target, actor=actor, break_glass=f"{reason} (confirmed by {confirmed_by})")
