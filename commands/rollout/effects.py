"""The rollout's side effects, each one step of ``RolloutService``: resolve a cohort, read the KPI gates, flip a
cohort, post and update cards. Callers hold the rollout's lock and save what these return."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from commands.cards import Card, MessageRef
from commands.charts import Chart
from commands.config import RunbookConfig
from commands.kpi_chart import rollout_chart, rollout_chart_windows
from commands.ports import (
    AuditEvent,
    AuditLog,
    Clock,
    FlagStore,
    KpiSource,
    MessageGone,
    Notifier,
    ReleaseGate,
    RoleDirectory,
    TargetDatabase,
)
from commands.readiness.ports import ReadinessCheck
from commands.rollback.ports import RollbackLogFile
from commands.rollout.exposure import ExposureRecord, guarded_enable
from commands.rollout.gates import GateReport, GateState, evaluate, windows
from commands.rollout.model import Rollout, RolloutStatus, StepStatus, anchored
from commands.rollout.ports import BackfillLedger, RolloutRepository
from commands.rollout.toggle_log import ToggleLog
from commands.rollout.views import (
    ago,
    flip_log_entry,
    flip_marker,
    mention,
    prompt_card,
    root_card,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutPorts:
    clock: Clock
    flags: FlagStore
    target: TargetDatabase
    kpis: KpiSource
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    log_file: RollbackLogFile
    repo: RolloutRepository
    exposure: ExposureRecord
    backfills: BackfillLedger | None = None
    checklist: ReleaseGate | None = None  # warns (or refuses) while the flag's release checklist is incomplete
    readiness: ReadinessCheck | None = None  # rollback readiness on each prompt; a failed check blocks approval


Updated = Literal["ok", "gone", "failed"]
# tenants per locked transaction on the postgres backend (~0.1 s of lock a chunk, which a rollback of the flag
# may wait for); the command backend flips one by one
FLIP_CHUNK = 10_000
Outbox = list[str]  # thread replies to post once the record that explains them is saved (never twice)


class RolloutEffects:
    def __init__(self, config: RunbookConfig, ports: RolloutPorts) -> None:
        self._config = config
        self._p = ports

    # --- gates -------------------------------------------------------------------------------------------------

    def gates(self, rollout: Rollout, now: datetime, *, held: Mapping[str, int]) -> GateReport:
        tenants = rollout.exposed(set(held))
        readings = self._p.kpis.read(tenants, windows(now, rollout.gates)) if tenants else []
        return evaluate(readings, rollout.gates, tenants=len(tenants))

    def watch_gates(self, rollout: Rollout, now: datetime, outbox: Outbox) -> Rollout:
        """While waiting for the next step: a real breach pauses the rollout and says why in the thread."""
        report = self.gates(rollout, now, held=self._p.repo.held(rollout.flag))
        rollout = replace(rollout, gates_checked_at=now)
        if not report.breached:
            return rollout
        why = report.failing_sentence()
        rollout = replace(rollout, status=RolloutStatus.PAUSED, paused_at=now, status_reason=f"KPI breach: {why}")
        rollout = rollout.noted(now, f"paused automatically: KPI breach — {why}")
        self.audit(rollout, "rollout.auto_pause", actor="zdm", outcome="paused", detail={"why": why})
        outbox.append(
            f"⏸ Rollout #{rollout.id} paused automatically: KPI breach — {why}. Investigate, then "
            "`/zdm rollout resume` (or `/zdm rollout abort <reason>`)."
        )
        self.refresh_root(rollout, now)
        if rollout.step and rollout.step.status == StepStatus.PROMPTED:
            self.refresh_prompt(rollout, rollout.current, now, report=report)
        return rollout

    # --- steps -------------------------------------------------------------------------------------------------

    def open_step(self, rollout: Rollout, now: datetime, outbox: Outbox) -> Rollout:
        """The current step is due: resolve its cohort now (skipping enabled and held-out tenants)."""
        index, step = rollout.current, rollout.plan[rollout.current]
        selected = self._p.target.resolve_cohort(step, now=now)
        held = self._p.repo.held(rollout.flag)
        held_out = tuple(t for t in selected if t in held)
        candidates = [t for t in selected if t not in held]
        enabled = self._p.flags.enabled_among(flag=rollout.flag, tenants=candidates)
        cohort = tuple(t for t in candidates if t not in enabled)
        state = replace(
            rollout.steps[index],
            status=StepStatus.PROMPTED,
            cohort=cohort,
            already_enabled=tuple(t for t in candidates if t in enabled),
            held_out=held_out,
            prompted_at=now,
        )
        rollout = rollout.with_step(index, state)
        self.audit(rollout, "rollout.step_due", actor="zdm", detail={"step": index, "cohort": len(cohort)})
        if cohort:
            return rollout.noted(now, f"step {index + 1} `{step.name}` due: {len(cohort)} tenants to enable")
        reason = "nothing left to enable" + (f" ({len(state.already_enabled)} already on)" if enabled else "")
        state = replace(state, status=StepStatus.SKIPPED, reason=reason, flipped_at=now)
        rollout = self._next_step(anchored(rollout.with_step(index, state), index, now), now)
        rollout = rollout.noted(now, f"step {index + 1} `{step.name}` skipped: {reason}")
        outbox.append(f"➖ Step {index + 1} `{step.name}` skipped: {reason}.")
        self.refresh_root(rollout, now)
        return rollout

    def flip(self, rollout: Rollout, now: datetime, outbox: Outbox, *, report: GateReport | None) -> Rollout:
        """Enable the claimed step's cohort under the flag's lock, skipping tenants rolled back meanwhile. Resumable:
        tenants already enabled, failed or skipped are not tried again; a pause or abort stops it between tenants,
        and a flip resumed after such a stop re-checks the KPI gates first."""
        index = rollout.current
        state = rollout.steps[index]
        if state.interrupted:
            report = self.gates(rollout, now, held=self._p.repo.held(rollout.flag))
            if report.blocks:
                return self._hold_flip(rollout, now, outbox, report)
        actor = state.flipped_by or "zdm"
        tried = {*state.enabled, *state.held_out, *(t for t, _ in (*state.failed, *state.skipped))}
        detail = {"rollout_id": rollout.id, "step": index}
        with ToggleLog(self._p.audit, AuditEvent(actor, "rollout.flag_on", "", "ok", detail), at=now) as toggles:
            result = guarded_enable(
                flags=self._p.flags,
                exposure=self._p.exposure,
                flag=rollout.flag,
                tenants=[t for t in state.cohort if t not in tried],
                actor=actor,
                at=now,
                chunk=1 if self._config.flag.backend == "command" else FLIP_CHUNK,
                stop_requested=lambda: self._p.repo.stop_requested(rollout.id),
                toggled=toggles.log,
            )
        for tenant, why in (*result.failed, *result.skipped):
            outcome = "failed" if (tenant, why) in result.failed else "skipped"
            self._p.audit.record(AuditEvent(actor, "rollout.flag_on", tenant, outcome, {**detail, "why": why}), at=now)
        state = replace(
            state,
            enabled=(*state.enabled, *result.changed, *result.unchanged),
            failed=(*state.failed, *result.failed),
            skipped=(*state.skipped, *result.skipped),
            interrupted=result.stopped,
        )
        rollout = rollout.with_step(index, state)
        step = rollout.plan[index]
        if result.stopped:
            left = len(state.cohort) - len(state.enabled) - len(state.failed) - len(state.skipped)
            rollout = rollout.noted(
                now, f"step {index + 1} `{step.name}`: flip stopped by the {result.stopped}; {left} tenants left off"
            )
            self.refresh_prompt(rollout, index, now, report=report)
            return rollout
        state = replace(state, status=StepStatus.DONE, flipped_at=now)
        rollout = anchored(rollout.with_step(index, state), index, now)
        self._p.log_file.append(marker=flip_marker(rollout.uid, index), text=flip_log_entry(rollout, index))
        rollout = self._next_step(replace(rollout, last_flip_at=now), now)
        rollout = rollout.noted(now, f"step {index + 1} `{step.name}`: enabled {len(state.enabled)} by <@{actor}>")
        if state.skipped:
            names = ", ".join(f"`{t}`" for t, _ in state.skipped[:10])
            outbox.append(
                f"⏭ Step {index + 1} left {len(state.skipped)} tenants off, rolled back during the flip: {names}."
            )
        self.refresh_prompt(rollout, index, now, report=report)
        self.refresh_root(rollout, now)
        if rollout.status == RolloutStatus.DONE:
            outbox.append(f"✅ Rollout #{rollout.id} finished: `{rollout.flag}` is on for every step's cohort.")
        return rollout

    def _hold_flip(self, rollout: Rollout, now: datetime, outbox: Outbox, report: GateReport) -> Rollout:
        """A stopped flip whose gates now fail is not resumed: the step waits for a fresh approval."""
        index, state = rollout.current, rollout.steps[rollout.current]
        why = report.failing_sentence()
        state = replace(
            state,
            status=StepStatus.PROMPTED,
            approvals=(),
            flipped_by=None,
            interrupted=None,
            prompted_at=now,
            reminded_at=None,
            escalated_at=None,
        )
        rollout = rollout.with_step(index, state).noted(now, f"step {index + 1}: stopped flip not resumed — {why}")
        outbox.append(
            f"⏸ Step {index + 1}'s stopped flip was not resumed: the KPI gates fail ({why}). "
            "It needs a fresh approval once they pass."
        )
        self.refresh_prompt(rollout, index, now, report=report)
        self.refresh_root(rollout, now)
        return rollout

    def nudge(self, rollout: Rollout, now: datetime, outbox: Outbox, *, escalate: bool) -> Rollout:
        state = rollout.step
        assert state is not None and state.prompted_at is not None
        waited = ago(now - state.prompted_at)
        if escalate:
            who = " ".join(mention(m) for m in self._p.roles.members("oncall")) or "on-call (no one configured)"
            text = f"🚨 {who}: step {rollout.current + 1} of rollout #{rollout.id} has waited {waited} for approval."
            rollout = rollout.with_step(rollout.current, replace(state, escalated_at=now, reminded_at=now))
        else:
            who = " ".join(mention(m) for m in self._p.roles.members("release_approvers")) or "release approvers"
            text = (
                f"⏰ Reminder {who}: step {rollout.current + 1} of rollout #{rollout.id} waits for approval ({waited})."
            )
            rollout = rollout.with_step(rollout.current, replace(state, reminded_at=now))
        outbox.append(text)
        self.audit(rollout, "rollout.escalated" if escalate else "rollout.reminded", actor="zdm", detail={})
        return rollout

    def _next_step(self, rollout: Rollout, now: datetime) -> Rollout:
        current = rollout.current + 1
        if current >= len(rollout.plan):
            rollout = replace(rollout, current=current, status=RolloutStatus.DONE, finished_at=now)
            self.audit(rollout, "rollout.finished", actor="zdm", detail={})
            return rollout
        return replace(rollout, current=current)

    # --- messages ----------------------------------------------------------------------------------------------

    def ensure_thread(self, rollout: Rollout, now: datetime, *, repost_missing: bool = False) -> Rollout:
        """Post the thread's root card, or refresh it. With ``repost_missing`` (after a restart) a root that can
        no longer be updated (deleted, or a different workspace) is posted again, and the pending prompt with it."""
        if rollout.thread_ts:
            if self.refresh_root(rollout, now) != "gone" or not repost_missing:
                return rollout
            rollout = replace(rollout, thread_ts=None)
            if rollout.step and rollout.step.prompt_ts:
                rollout = rollout.with_step(rollout.current, replace(rollout.step, prompt_ts=None))
        try:
            card = root_card(rollout, held=self._p.repo.held(rollout.flag), now=now)
            ref = self._p.notifier.post(self._config.channels.release, card)
        except Exception as exc:  # Slack down: the rollout still runs; the next relink posts the thread
            log.warning("could not post rollout %s to %s: %s", rollout.id, self._config.channels.release, exc)
            return rollout
        return replace(rollout, channel=ref.channel, thread_ts=ref.ts)

    def post_or_refresh_prompt(self, rollout: Rollout, now: datetime) -> Rollout:
        state = rollout.step
        assert state is not None
        if state.prompt_ts:
            self.refresh_prompt(rollout, rollout.current, now)
            return rollout
        rollout = self.ensure_thread(rollout, now)
        if not (rollout.channel and rollout.thread_ts):
            return rollout
        card = self._prompt(rollout, rollout.current, now, report=None)
        try:
            ref = self._p.notifier.post(rollout.channel, card, thread_ts=rollout.thread_ts)
        except Exception as exc:  # the next tick posts it (the step stays prompted without a message)
            log.warning("could not post the prompt of rollout %s: %s", rollout.id, exc)
            return rollout
        self.refresh_root(rollout, now)
        return rollout.with_step(rollout.current, replace(state, prompt_ts=ref.ts))

    def refresh_prompt(self, rollout: Rollout, index: int, now: datetime, *, report: GateReport | None = None) -> None:
        ts = rollout.steps[index].prompt_ts
        if rollout.channel and ts:
            self._update(MessageRef(rollout.channel, ts), self._prompt(rollout, index, now, report=report))

    def refresh_root(self, rollout: Rollout, now: datetime) -> Updated:
        if not (rollout.channel and rollout.thread_ts):
            return "failed"
        card = root_card(rollout, held=self._p.repo.held(rollout.flag), now=now)
        return self._update(MessageRef(rollout.channel, rollout.thread_ts), card)

    def say(self, rollout: Rollout, text: str) -> None:
        """A short reply in the rollout's thread."""
        if not (rollout.channel and rollout.thread_ts):
            return
        try:
            self._p.notifier.post(rollout.channel, Card(title=text), thread_ts=rollout.thread_ts)
        except Exception as exc:
            log.warning("could not post to the thread of rollout %s: %s", rollout.id, exc)

    def audit(
        self,
        rollout: Rollout,
        action: str,
        *,
        actor: str,
        outcome: str = "ok",
        detail: Mapping[str, object],
    ) -> None:
        event = AuditEvent(
            actor, action, rollout.flag, outcome, {"rollout_id": rollout.id, **detail}, rollout.correlation_id
        )
        self._p.audit.record(event, at=self._p.clock.now())

    def _prompt(self, rollout: Rollout, index: int, now: datetime, *, report: GateReport | None) -> Card:
        if report is None and rollout.steps[index].status == StepStatus.PROMPTED:
            report = self.gates(rollout, now, held=self._p.repo.held(rollout.flag))
        approvers = self._p.roles.members("release_approvers")
        prompted = rollout.steps[index].status == StepStatus.PROMPTED
        ready = self._p.readiness.for_flag(rollout.flag) if self._p.readiness and prompted else None
        card = prompt_card(rollout, index, report=report, approvers=approvers, now=now, readiness=ready)
        if report is None or report.state == GateState.NOT_APPLICABLE:
            return card
        return replace(card, chart=self._chart(rollout, now))

    def _chart(self, rollout: Rollout, now: datetime) -> Chart | None:
        """The exposed tenants' KPIs since the rollout started, for the approver to see the curve (None when the
        KPI source cannot be read: the card's KPI table still says what the gates found)."""
        tenants = rollout.exposed(set(self._p.repo.held(rollout.flag)))
        spans = rollout_chart_windows(rollout, now)
        try:
            readings = self._p.kpis.read(tenants, spans)
        except Exception as exc:
            log.warning("no KPI chart for rollout %s: %s", rollout.id, exc)
            return None
        return rollout_chart(rollout, windows=spans, readings=readings, tenants=len(tenants))

    def _update(self, ref: MessageRef, card: Card) -> Updated:
        try:
            self._p.notifier.update(ref, card)
        except MessageGone as exc:
            log.warning("message %s is gone: %s", ref.ts, exc)
            return "gone"
        except Exception as exc:  # Slack trouble never stops the rollout; the card catches up on the next change
            log.warning("could not update message %s in %s: %s", ref.ts, ref.channel, exc)
            return "failed"
        return "ok"
