"""Break-glass on a rollout step: ``/zdm rollout approve [#id] --break-glass "<reason>"``.

Approves the current step for the person who asked, skipping what would block it now: the KPI gate (e.g. no data
during an incident) and a broken rollback path. The usual rules stay: a release approver, not the starter.
"""

from __future__ import annotations

from commands.breakglass.model import Skip
from commands.errors import SelfApproval, UsageError, UserError
from commands.rollout.approvals import RolloutApprovals
from commands.rollout.args import parse_rollout_break_glass
from commands.rollout.core import APPROVERS, RolloutContext
from commands.rollout.model import StepStatus
from commands.rollout.views import token

USAGE = 'Usage: `/zdm rollout approve [#id] --break-glass "<reason>"` (approves the current step, skipping its gates).'


class RolloutBreakGlass:
    def __init__(self, ctx: RolloutContext, approvals: RolloutApprovals) -> None:
        self._approvals = approvals
        self._p, self._fx, self._repo = ctx.ports, ctx.fx, ctx.repo
        self._require, self._find, self._check_current = ctx.require, ctx.find, ctx.check_current

    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        request = parse_rollout_break_glass(text)
        if request.action != "approve":
            raise UsageError(USAGE)
        rollout_id = request.rollout_id
        self._require(actor, APPROVERS, "approve or deny rollout steps")
        rollout = self._find(rollout_id)
        if rollout.step is None or rollout.step.status != StepStatus.PROMPTED or rollout.plan_step is None:
            raise UserError(
                f"Rollout #{rollout.id} has no step waiting for approval; there is nothing to break glass on."
            )
        self._check_current(rollout, rollout.current, rollout.digest)
        if actor == rollout.started_by:
            raise SelfApproval(rollout_id=rollout.id)
        now = self._p.clock.now()
        gates = []
        report = self._fx.gates(rollout, now, held=self._repo.held(rollout.flag))
        if report.blocks:
            gates.append(f"KPI gate — {report.failing_sentence()}")
        if self._p.readiness is not None and not (ready := self._p.readiness.for_flag(rollout.flag)).ready:
            gates.append(f"rollback readiness — {ready.sentence()}")
        step = rollout.current + 1
        if not gates:
            raise UserError(
                f"Nothing blocks step {step} of rollout #{rollout.id} now; approve it on its card (no break-glass)."
            )
        return Skip(
            target=token(rollout, rollout.current),
            subject=rollout.flag,
            what=f"approve step {step} `{rollout.plan_step.name}` of rollout #{rollout.id} (`{rollout.flag}`)",
            gates=tuple(gates),
        )

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        return self._approvals.approve(value=target, actor=actor, break_glass=f"{reason} (confirmed by {confirmed_by})")
