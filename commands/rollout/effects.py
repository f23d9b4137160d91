"""The rollout's side effects: read the KPI gates, resolve a cohort, flip a cohort, post and update cards, and
carry out the effects a transition (``commands.rollout.transitions``) asks for. Callers hold the rollout's lock
and save what these return."""

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
from commands.rollout.effect_types import Announce, AppendLog, Audit, Effect, PostPrompt, RefreshPrompt, RefreshRoot
from commands.rollout.exposure import ExposureRecord, GuardedFlip, guarded_enable
from commands.rollout.gates import GateReport, GateState, evaluate, windows
from commands.rollout.model import Rollout, StepStatus
from commands.rollout.ports import BackfillLedger, RolloutRepository
from commands.rollout.views import prompt_card, root_card

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
FLIP_CHUNK = 1000  # tenants per locked transaction on the postgres backend; the command backend flips one by one


class RolloutEffects:
    def __init__(self, config: RunbookConfig, ports: RolloutPorts) -> None:
        self._config = config
        self._p = ports

    # --- gates -------------------------------------------------------------------------------------------------

    def gates(self, rollout: Rollout, now: datetime, *, held: Mapping[str, int]) -> GateReport:
        tenants = rollout.exposed(set(held))
        readings = self._p.kpis.read(tenants, windows(now, rollout.gates)) if tenants else []
        return evaluate(readings, rollout.gates, tenants=len(tenants))

    def cohort_facts(self, rollout: Rollout, now: datetime) -> tuple[list[str], dict[str, int], set[str]]:
        """For the current step becoming due: the tenants its plan selects now, the held-out tenants, and which of
        the selected ones not held out already have the flag on (see ``transitions.step_opened``)."""
        selected = self._p.target.resolve_cohort(rollout.plan[rollout.current], now=now)
        held = self._p.repo.held(rollout.flag)
        candidates = [t for t in selected if t not in held]
        return list(selected), held, self._p.flags.enabled_among(flag=rollout.flag, tenants=candidates)

    def enable_cohort(self, rollout: Rollout, now: datetime) -> GuardedFlip:
        """Enable the claimed step's cohort under the flag's lock, skipping tenants rolled back meanwhile. Resumable:
        tenants already enabled, failed or skipped are not tried again; a pause or abort stops it between tenants.
        Each tenant's outcome is audited as it is known (``transitions.flip_applied`` folds it into the record)."""
        index = rollout.current
        state = rollout.steps[index]
        actor = state.flipped_by or "zdm"
        tried = {*state.enabled, *state.held_out, *(t for t, _ in (*state.failed, *state.skipped))}
        result = guarded_enable(
            flags=self._p.flags,
            exposure=self._p.exposure,
            flag=rollout.flag,
            tenants=[t for t in state.cohort if t not in tried],
            actor=actor,
            at=now,
            chunk=1 if self._config.flag.backend == "command" else FLIP_CHUNK,
            stop_requested=lambda: self._p.repo.stop_requested(rollout.id),
        )
        detail = {"rollout_id": rollout.id, "step": index}
        self._p.audit.record_each(AuditEvent(actor, "rollout.flag_on", "", "ok", detail), result.changed, at=now)
        for tenant, why in (*result.failed, *result.skipped):
            outcome = "failed" if (tenant, why) in result.failed else "skipped"
            self._p.audit.record(AuditEvent(actor, "rollout.flag_on", tenant, outcome, {**detail, "why": why}), at=now)
        return result

    # --- carrying out a transition's effects ---------------------------------------------------------------

    def run(self, effect: Effect, rollout: Rollout, now: datetime) -> Rollout:
        """Carry out one effect for ``rollout`` as saved; return it with any message reference the effect got."""
        match effect:
            case Announce(text=text):
                self.say(rollout, text)
            case Audit(action=action, actor=actor, detail=detail, outcome=outcome):
                self.audit(rollout, action, actor=actor, outcome=outcome, detail=detail)
            case RefreshRoot():
                self.refresh_root(rollout, now)
            case RefreshPrompt(index=index, report=report):
                self.refresh_prompt(rollout, index, now, report=report)
            case PostPrompt():
                return self.post_or_refresh_prompt(rollout, now)
            case AppendLog(marker=marker, text=text):
                self._p.log_file.append(marker=marker, text=text)
        return rollout

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
