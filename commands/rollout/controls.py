"""What people (and alerts) do to rollouts outside the step cards: start one, pause / resume / abort it, bring a
held-out tenant back, read its status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from commands.cards import Card
from commands.charts import Mark
from commands.errors import UsageError, UserError
from commands.kpi_chart import flip_marks
from commands.ports import AuditEvent
from commands.rollout.config import format_duration, plan_digest
from commands.rollout.core import APPROVERS, DECISION_WAIT_S, RolloutContext
from commands.rollout.model import Rollout, RolloutStatus, StepStatus, new_steps
from commands.rollout.ticks import RolloutTicks
from commands.rollout.transitions import include_noted, started, status_changed
from commands.rollout.views import status_card

log = logging.getLogger(__name__)
ALERT_ACTOR = "zdm"


class RolloutControls:
    def __init__(self, ctx: RolloutContext, ticks: RolloutTicks) -> None:
        self._ctx = ctx
        self._ticks = ticks

    def start(self, *, flag: str | None, plan: str | None, actor: str, correlation_id: str | None) -> Rollout:
        ctx = self._ctx
        ctx.require(actor, APPROVERS, "start rollouts")
        self.check_known(flag)
        settings = ctx.config.rollout
        plan_name = plan or settings.default_plan
        if plan_name not in settings.plans:
            raise UsageError(f"There is no plan `{plan_name}` in zdm.toml; plans: {', '.join(settings.plans)}.")
        steps = settings.plans[plan_name]
        job, env = settings.requires_backfill, settings.requires_backfill_env
        if job and (ctx.ports.backfills is None or not ctx.ports.backfills.latest(job=job, env=env, status="verified")):
            raise UsageError(
                f"The `{job}` backfill has not been verified on `{env}` yet, and zdm.toml requires it before a "
                f"rollout; run `/zdm backfill start {env} {job}` first."
            )
        now = ctx.ports.clock.now()
        rollout = ctx.repo.create(
            Rollout(
                id=0,
                flag=flag or ctx.config.flag.name,
                plan_name=plan_name,
                plan=steps,
                gates=settings.gates,
                digest=plan_digest(steps, settings.gates),
                started_by=actor,
                started_at=now,
                steps=new_steps(len(steps)),
                correlation_id=correlation_id,
            )
        )
        return ctx.commit(started(rollout, now, actor=actor), now)

    def known_flags(self) -> list[str]:
        """The configured flag and every flag a ``[releases.*]`` entry names: the only flags a rollout may flip."""
        config = self._ctx.config
        named = [spec.flag for spec in config.releases.values() if spec.flag]
        return list(dict.fromkeys([config.flag.name, *named]))

    def check_known(self, flag: str | None) -> None:
        if flag is not None and flag not in (known := self.known_flags()):
            listed = ", ".join(f"`{f}`" for f in known)
            raise UsageError(f"zdm does not know the flag `{flag}`; known flags (zdm.toml): {listed}.")

    def status_card(self, rollout: Rollout) -> Card:
        ctx = self._ctx
        now = ctx.ports.clock.now()
        held = ctx.repo.held(rollout.flag)
        report = ctx.fx.gates(rollout, now, held=held) if rollout.status.active else None
        return status_card(rollout, held=held, report=report, now=now)

    def flips(self, *, flag: str, since: datetime) -> list[Mark]:
        """The flips of ``flag``'s recent rollouts at or after ``since`` (marked on the alert card's chart)."""
        recent = [r for r in self._ctx.repo.recent(limit=20) if r.flag == flag]
        return sorted((m for r in recent for m in flip_marks(r) if m.at >= since), key=lambda m: m.at)

    def include(self, *, slug: str, actor: str) -> tuple[str, None, Callable[[], object]]:
        ctx = self._ctx
        ctx.require(actor, APPROVERS, "re-include tenants")
        flag = ctx.config.flag.name
        held = ctx.repo.held(flag)
        if slug not in held:
            raise UsageError(f"`{slug}` is not held out of `{flag}` rollouts; nothing to re-include.")
        if ctx.repo.rollback_open(flag=flag, tenant=slug):
            raise UsageError(
                f"Rollback #{held[slug]} of `{slug}` is still running; re-include it once it has finished."
            )
        now = ctx.ports.clock.now()
        ctx.repo.include(flag=flag, tenant=slug, actor=actor, at=now)
        ctx.ports.audit.record(AuditEvent(actor, "rollout.include", slug, "ok", {"flag": flag}), at=now)

        def note() -> None:  # best effort, after the ack: the include itself is already recorded
            for rollout in ctx.repo.active():
                if rollout.flag == flag:
                    try:
                        ctx.update(rollout.id, lambda r, at: include_noted(r, at, actor=actor, slug=slug))
                    except UserError:
                        log.warning("could not note the include of %s on rollout %s", slug, rollout.id)

        said = (
            f"`{slug}` is back in `{flag}` rollouts from the next step on (it was held after rollback #{held[slug]})."
        )
        return said, None, note

    def check_status_change(self, rollout: Rollout, action: str, *, actor: str, reason: str) -> Callable[[], str]:
        """Before the ack: who asks and whether the change applies now. Returns the work that makes it."""
        ctx = self._ctx
        roles = ("oncall", APPROVERS) if action in ("pause", "abort") else (APPROVERS,)
        ctx.require(actor, roles, f"{action} rollouts", subject=str(rollout.id))
        reason = reason or "no reason given"
        status_changed(rollout, ctx.ports.clock.now(), action=action, actor=actor, reason=reason)  # or its sentence

        def work() -> str:
            changed = self.change_status(rollout.id, action, actor=actor, reason=reason)
            said = f"Rollout #{changed.id} is {changed.status.value}."
            if action == "resume":
                report = ctx.fx.gates(changed, ctx.ports.clock.now(), held=ctx.repo.held(changed.flag))
                if report.breached:
                    every = format_duration(changed.gates.check_every)
                    said += f" Its KPIs still fail ({report.failing_sentence()}); the check in {every} pauses it again."
                if changed.step and changed.step.status == StepStatus.FLIPPING:
                    self._ticks.resume_flip(changed.id)  # now, not at the next tick: it re-checks the gates first
                self._ticks.advance_due()
            return said

        return work

    def change_status(self, rollout_id: int, action: str, *, actor: str, reason: str) -> Rollout:
        """Pause, resume or abort under the rollout's lock. A pause or abort first asks a flip running in another
        worker to stop before its next tenant and let go of the lock."""
        stops = action in ("pause", "abort")
        if stops:
            self._ctx.repo.request_stop(rollout_id, action)
        try:
            return self._ctx.update(
                rollout_id,
                lambda r, now: status_changed(r, now, action=action, actor=actor, reason=reason),
                wait_s=DECISION_WAIT_S,
            )
        finally:
            if stops:
                self._ctx.repo.request_stop(rollout_id, None)

    def pause_for_alert(self, *, flag: str, reason: str) -> list[int]:
        """Pause the running rollouts of ``flag`` because an alert fired (said in each rollout's thread); return
        their ids. A rollout that is already paused or finished is left as it is."""
        done = []
        for rollout in self._ctx.repo.active():
            if rollout.flag != flag or rollout.status != RolloutStatus.RUNNING:
                continue
            try:
                changed = self.change_status(rollout.id, "pause", actor=ALERT_ACTOR, reason=reason)
            except UserError:
                continue  # paused or finished meanwhile
            done.append(changed.id)
        return done
