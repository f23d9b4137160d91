"""The Approve and Deny buttons on a rollout step's prompt."""

from __future__ import annotations

from commands.errors import SelfApproval, StalePrompt, UserError
from commands.ports import AuditEvent
from commands.rollout.core import APPROVERS, DECISION_WAIT_S, RolloutContext
from commands.rollout.model import Rollout
from commands.rollout.transitions import (
    approval_added,
    approval_blocked,
    approvals_missing,
    check_current,
    denied,
    readiness_blocked,
    step_claimed,
)
from commands.text import whole_number


class RolloutApprovals:
    def __init__(self, ctx: RolloutContext) -> None:
        self._ctx = ctx

    def check_decidable(self, *, value: str, actor: str) -> Rollout:
        """Validate a click before anything happens (used before opening the Deny reason dialog)."""
        self._ctx.require(actor, APPROVERS, "approve or deny rollout steps")
        rollout_id, index, digest = _parse_token(value)
        rollout = self._ctx.repo.get(rollout_id)
        check_current(rollout, index, digest)
        assert rollout is not None
        return rollout

    def approve(self, *, value: str, actor: str, break_glass: str | None = None) -> str:
        """``break_glass``: why (and who confirmed) the KPI gate and rollback readiness are skipped for this one."""
        rollout = self.check_decidable(value=value, actor=actor)
        if actor == rollout.started_by:
            self._ctx.ports.audit.record(
                AuditEvent(actor, "rollout.approve", rollout.flag, "refused", {"rollout_id": rollout.id}),
                at=self._ctx.ports.clock.now(),
            )
            raise SelfApproval(rollout_id=rollout.id)
        with self._ctx.repo.exclusive(rollout.id, wait_s=DECISION_WAIT_S) as mine:
            if not mine:
                raise UserError(f"Another zdm worker is busy with rollout #{rollout.id}; press Approve again shortly.")
            return self._approve_locked(value, actor, break_glass=break_glass)

    def _approve_locked(self, value: str, actor: str, *, break_glass: str | None = None) -> str:
        ctx = self._ctx
        rollout_id, index, digest = _parse_token(value)
        rollout = ctx.repo.get(rollout_id)
        check_current(rollout, index, digest)
        assert rollout is not None and rollout.plan_step is not None
        now = ctx.ports.clock.now()
        if break_glass is None and ctx.ports.readiness is not None:
            ready = ctx.ports.readiness.for_flag(rollout.flag)
            if not ready.ready:  # refused, and the card redrawn to say why
                ctx.refuse(readiness_blocked(rollout, actor=actor, readiness=ready), now)
        required = rollout.plan_step.required_approvals
        if missing := approvals_missing(rollout, actor=actor):
            ctx.commit(approval_added(rollout, now, actor=actor), now)
            return f"Approval recorded ({required - missing} of {required}); another release approver must approve too."
        report = ctx.fx.gates(rollout, now, held=ctx.repo.held(rollout.flag))
        if report.blocks and break_glass is None:
            ctx.refuse(approval_blocked(rollout, actor=actor, report=report), now)
        claimed = ctx.commit(step_claimed(rollout, actor=actor, break_glass=break_glass), now)
        rollout = ctx.finish_flip(claimed, now, report=report)
        done = rollout.steps[index]
        said = (
            f"Enabled `{rollout.flag}` for {len(done.enabled)} tenants (step {index + 1}, {rollout.plan[index].name})"
        )
        if done.interrupted:
            return f"{said}, then the {done.interrupted} stopped the flip; the rest stays off."
        if done.skipped:
            said += f"; left {len(done.skipped)} off, rolled back during the flip: " + ", ".join(
                f"`{t}`" for t, _ in done.skipped[:10]
            )
        return said + "."

    def deny(self, *, value: str, actor: str, reason: str) -> str:
        reason = " ".join(reason.split())[:300] or "no reason given"
        rollout = self.check_decidable(value=value, actor=actor)
        _, index, digest = _parse_token(value)
        changed = self._ctx.update(
            rollout.id,
            lambda r, now: denied(r, now, index=index, digest=digest, actor=actor, reason=reason),
            wait_s=DECISION_WAIT_S,
        )
        return f"Denied; rollout #{changed.id} is stopped and nothing more will be enabled."


def _parse_token(value: str) -> tuple[int, int, str]:
    parts = value.split(":")
    numbers = [whole_number(part) for part in parts[:2]]
    if len(parts) != 3 or numbers[0] is None or numbers[1] is None:
        raise StalePrompt(what="the button does not name a rollout step")
    return numbers[0], numbers[1], parts[2]
