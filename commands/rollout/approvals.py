"""The Approve and Deny buttons on a rollout step's prompt."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from commands.errors import GateBlocked, SelfApproval, StalePrompt, UserError
from commands.ports import AuditEvent
from commands.readiness.model import RollbackNotReady
from commands.rollout.core import APPROVERS, DECISION_WAIT_S, RolloutCore
from commands.rollout.effects import Outbox
from commands.rollout.gates import GateReport
from commands.rollout.model import Rollout, RolloutStatus, StepStatus
from commands.text import whole_number


class RolloutApprovals(RolloutCore):
    def check_decidable(self, *, value: str, actor: str) -> Rollout:
        """Validate a click before anything happens (used before opening the Deny reason dialog)."""
        self._require(actor, APPROVERS, "approve or deny rollout steps")
        rollout_id, index, digest = _parse_token(value)
        rollout = self._repo.get(rollout_id)
        self._check_current(rollout, index, digest)
        assert rollout is not None
        return rollout

    def approve(self, *, value: str, actor: str, break_glass: str | None = None) -> str:
        """``break_glass``: why (and who confirmed) the KPI gate and rollback readiness are skipped for this one."""
        rollout = self.check_decidable(value=value, actor=actor)
        if actor == rollout.started_by:
            self._p.audit.record(
                AuditEvent(actor, "rollout.approve", rollout.flag, "refused", {"rollout_id": rollout.id}),
                at=self._p.clock.now(),
            )
            raise SelfApproval(rollout_id=rollout.id)
        with self._repo.exclusive(rollout.id, wait_s=DECISION_WAIT_S) as mine:
            if not mine:
                raise UserError(f"Another zdm worker is busy with rollout #{rollout.id}; press Approve again shortly.")
            return self._approve_locked(value, actor, break_glass=break_glass)

    def _approve_locked(self, value: str, actor: str, *, break_glass: str | None = None) -> str:
        rollout_id, index, digest = _parse_token(value)
        rollout = self._repo.get(rollout_id)
        self._check_current(rollout, index, digest)
        assert rollout is not None and rollout.step is not None and rollout.plan_step is not None
        now = self._p.clock.now()
        state, required = rollout.step, rollout.plan_step.required_approvals
        if break_glass is None:
            self._check_readiness(rollout, actor, now)
        if actor in state.approvals:
            raise UserError(f"You already approved this step; it needs {required - len(state.approvals)} more.")
        approvals = (*state.approvals, actor)
        if len(approvals) < required:
            rollout = rollout.with_step(index, replace(state, approvals=approvals))
            rollout = rollout.noted(now, f"<@{actor}> approved step {index + 1} ({len(approvals)} of {required})")
            self._fx.audit(rollout, "rollout.approve", actor=actor, detail={"step": index, "count": len(approvals)})
            self._save(rollout, now)
            self._fx.refresh_prompt(rollout, index, now)
            return f"Approval recorded ({len(approvals)} of {required}); another release approver must approve too."
        held = self._repo.held(rollout.flag)
        report = self._fx.gates(rollout, now, held=held)
        if report.blocks and break_glass is None:
            self._fx.audit(rollout, "rollout.approve", actor=actor, outcome="blocked", detail={"why": _why(report)})
            self._fx.refresh_prompt(rollout, index, now, report=report)
            raise GateBlocked(why=_why(report))
        rollout = rollout.with_step(index, replace(state, approvals=approvals, status=StepStatus.FLIPPING))
        rollout = replace(rollout.with_step(index, replace(rollout.steps[index], flipped_by=actor)))
        detail = {"step": index, "count": len(approvals), **({"break_glass": break_glass} if break_glass else {})}
        self._fx.audit(rollout, "rollout.approve", actor=actor, detail=detail)
        self._save(rollout, now)  # claimed: a crash from here on is finished by the next tick, never repeated
        outbox: Outbox = []
        rollout = self._fx.flip(rollout, now, outbox, report=report)
        self._save(rollout, now, announce=outbox)
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

    def _check_readiness(self, rollout: Rollout, actor: str, now: datetime) -> None:
        """Rollback readiness before any approval: a failed check refuses it (and redraws the card to say why)."""
        if self._p.readiness is None:
            return
        ready = self._p.readiness.for_flag(rollout.flag)
        if not ready.ready:
            self._fx.audit(rollout, "rollout.approve", actor=actor, outcome="blocked", detail={"why": ready.sentence()})
            self._fx.refresh_prompt(rollout, rollout.current, now)
            raise RollbackNotReady(subject=f"step {rollout.current + 1} of rollout #{rollout.id}", readiness=ready)

    def deny(self, *, value: str, actor: str, reason: str) -> str:
        reason = " ".join(reason.split())[:300] or "no reason given"
        rollout = self.check_decidable(value=value, actor=actor)
        now = self._p.clock.now()

        def apply(r: Rollout) -> Rollout:
            _, index, digest = _parse_token(value)
            self._check_current(r, index, digest)
            step = replace(r.steps[index], status=StepStatus.DENIED, denied_by=actor, reason=reason)
            r = replace(r.with_step(index, step), status=RolloutStatus.DENIED, status_reason=reason, finished_at=now)
            return r.noted(now, f"<@{actor}> denied step {index + 1}: {reason}")

        denied = self._locked_update(rollout.id, apply, wait_s=DECISION_WAIT_S)
        self._fx.audit(denied, "rollout.denied", actor=actor, detail={"reason": reason})
        self._fx.refresh_prompt(denied, denied.current, now)
        self._fx.say(denied, f"⛔ Rollout #{denied.id} stopped: <@{actor}> denied it — {reason}")
        return f"Denied; rollout #{denied.id} is stopped and nothing more will be enabled."


def _parse_token(value: str) -> tuple[int, int, str]:
    parts = value.split(":")
    numbers = [whole_number(part) for part in parts[:2]]
    if len(parts) != 3 or numbers[0] is None or numbers[1] is None:
        raise StalePrompt(what="the button does not name a rollout step")
    return numbers[0], numbers[1], parts[2]


def _why(report: GateReport) -> str:
    return report.failing_sentence()
