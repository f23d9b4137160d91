"""Rollout service: ``/zdm rollout …``, the Approve / Deny buttons and the scheduler's ``advance_due(now)``.

Postgres is the source of truth. Every change to a rollout happens under its cross-process lock and is saved
before anything is posted, so a restart, a missed tick or a second replica never skips, repeats or double-posts a
step: ``advance_due`` only does what ``due_work`` says is due for the stored record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from commands.cards import Card, mention
from commands.charts import Mark
from commands.errors import UsageError, UserError
from commands.kpi_chart import flip_marks
from commands.ports import AuditEvent
from commands.rollout.breakglass import RolloutBreakGlass
from commands.rollout.config import format_duration, plan_digest
from commands.rollout.core import APPROVERS, DECISION_WAIT_S, choose
from commands.rollout.effects import Outbox
from commands.rollout.model import (
    Due,
    Rollout,
    RolloutStatus,
    StepStatus,
    aborted,
    due_work,
    new_steps,
    parse_rollout_args,
    paused,
    resumed,
)
from commands.rollout.views import flip_log_entry, flip_marker, list_line, status_card
from commands.rollout.watch_batch import BatchedRolloutStore, check_routine

log = logging.getLogger(__name__)
ALERT_ACTOR = "zdm"
BACKOFF = timedelta(minutes=5)


class RolloutService(RolloutBreakGlass):
    """``/zdm rollout …`` and the scheduler's ``advance_due``; the buttons come from ``RolloutApprovals``."""

    # --- /zdm rollout ------------------------------------------------------------------------------------------

    def command(
        self, *, text: str, actor: str, correlation_id: str | None = None
    ) -> tuple[str, Card | None, Callable[[], object] | None]:
        """Run one ``/zdm rollout …`` subcommand; return the reply sentence, an optional card and optional work
        to run after Slack's ack."""
        request = parse_rollout_args(text)
        if request.action == "start":
            self._check_known(request.flag)
            flag = request.flag or self._config.flag.name
            gate = self._p.checklist.preflight(flag=flag) if self._p.checklist else None
            if gate is not None and gate.refuse:
                self._require(actor, APPROVERS, "start rollouts")
                raise UserError(f"No rollout was started: {gate.sentence()}.")
            rollout = self.start(flag=request.flag, plan=request.plan, actor=actor, correlation_id=correlation_id)
            where = self._config.channels.release
            text = f"Started rollout #{rollout.id} of `{rollout.flag}`; approval prompts follow in {where}."
            text += f" Warning: {gate.sentence()}." if gate else ""
            return text, None, lambda: self.after_start(rollout.id)
        if request.action == "list":
            rollouts = self._repo.recent(limit=10)
            lines = tuple(list_line(r) for r in rollouts) or ("No rollouts yet. `/zdm rollout start` begins one.",)
            return "\n".join(lines), Card(title="Recent rollouts", lines=lines), None
        if request.action == "include":
            assert request.slug
            return self.include(slug=request.slug, actor=actor)
        if request.action == "status":  # one read before the ack: the rollout and its held-out tenants together
            found = self._repo.with_held(request.rollout_id)
            rollout = choose(request.rollout_id, [r for r, _ in found])
            card = self.status_card(rollout, held=next(h for r, h in found if r.id == rollout.id))
            return card.title, card, None
        rollout = self._find(request.rollout_id)
        work = self._check_status_change(rollout, request.action, actor=actor, reason=request.reason)
        verb = {"pause": "Pausing", "resume": "Resuming", "abort": "Aborting"}[request.action]
        return f"{verb} rollout #{rollout.id}…", None, work

    def start(self, *, flag: str | None, plan: str | None, actor: str, correlation_id: str | None) -> Rollout:
        self._require(actor, APPROVERS, "start rollouts")
        self._check_known(flag)
        settings = self._config.rollout
        plan_name = plan or settings.default_plan
        if plan_name not in settings.plans:
            raise UsageError(f"There is no plan `{plan_name}` in zdm.toml; plans: {', '.join(settings.plans)}.")
        steps = settings.plans[plan_name]
        job, env = settings.requires_backfill, settings.requires_backfill_env
        if job and (self._p.backfills is None or not self._p.backfills.latest(job=job, env=env, status="verified")):
            raise UsageError(
                f"The `{job}` backfill has not been verified on `{env}` yet, and zdm.toml requires it before a "
                f"rollout; run `/zdm backfill start {env} {job}` first."
            )
        now = self._p.clock.now()
        rollout = self._repo.create(
            Rollout(
                id=0,
                flag=flag or self._config.flag.name,
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
        rollout = rollout.noted(now, f"started by <@{actor}> with plan `{plan_name}`")
        self._fx.audit(rollout, "rollout.started", actor=actor, detail={"plan": plan_name})
        self._save(rollout, now)
        return rollout

    def known_flags(self) -> list[str]:
        """The configured flag and every flag a ``[releases.*]`` entry names: the only flags a rollout may flip."""
        named = [spec.flag for spec in self._config.releases.values() if spec.flag]
        return list(dict.fromkeys([self._config.flag.name, *named]))

    def _check_known(self, flag: str | None) -> None:
        if flag is not None and flag not in (known := self.known_flags()):
            listed = ", ".join(f"`{f}`" for f in known)
            raise UsageError(f"zdm does not know the flag `{flag}`; known flags (zdm.toml): {listed}.")

    def after_start(self, rollout_id: int) -> None:
        """After the ack: open the rollout's thread in the release channel and do whatever is due already."""
        self.relink(rollout_id)
        self.advance_due()

    def status_card(self, rollout: Rollout, *, held: dict[str, int] | None = None) -> Card:
        now = self._p.clock.now()
        held = self._repo.held(rollout.flag) if held is None else held
        report = self._fx.gates(rollout, now, held=held) if rollout.status.active else None
        return status_card(rollout, held=held, report=report, now=now)

    def include(self, *, slug: str, actor: str) -> tuple[str, None, Callable[[], object]]:
        self._require(actor, APPROVERS, "re-include tenants")
        flag = self._config.flag.name
        held = self._repo.held(flag)
        if slug not in held:
            raise UsageError(f"`{slug}` is not held out of `{flag}` rollouts; nothing to re-include.")
        if self._repo.rollback_open(flag=flag, tenant=slug):
            raise UsageError(
                f"Rollback #{held[slug]} of `{slug}` is still running; re-include it once it has finished."
            )
        now = self._p.clock.now()
        self._repo.include(flag=flag, tenant=slug, actor=actor, at=now)
        self._p.audit.record(AuditEvent(actor, "rollout.include", slug, "ok", {"flag": flag}), at=now)

        def note() -> None:  # best effort, after the ack: the include itself is already recorded
            for rollout in self._repo.active():
                if rollout.flag == flag:
                    try:
                        self._locked_update(rollout.id, lambda r: r.noted(now, f"<@{actor}> re-included `{slug}`"))
                    except UserError:
                        log.warning("could not note the include of %s on rollout %s", slug, rollout.id)

        said = (
            f"`{slug}` is back in `{flag}` rollouts from the next step on (it was held after rollback #{held[slug]})."
        )
        return said, None, note

    # --- the scheduler -----------------------------------------------------------------------------------------

    def advance_due(self, now: datetime | None = None) -> datetime | None:
        """Do whatever is due for every running rollout; return when to wake up next. Idempotent and safe to
        run from several replicas at once (each rollout is advanced under its lock, from its stored state; routine
        KPI checks that find nothing are saved together by a compare-and-set instead, see ``watch_batch``)."""
        now = now or self._p.clock.now()
        due = self._repo.due(now)
        if due and isinstance(self._repo, BatchedRolloutStore):  # routine KPI checks first, all together
            settings = self._config.rollout
            due = check_routine(
                self._repo, self._p.kpis, due, now,
                remind_after=settings.remind_after, escalate_after=settings.escalate_after,
            )  # fmt: skip
        for rollout_id in due:
            try:
                with self._repo.exclusive(rollout_id) as mine:
                    rollout = self._repo.get(rollout_id) if mine else None
                    if rollout is None:
                        continue
                    try:
                        self._advance(rollout, now)
                    except Exception as exc:  # one broken rollout must not stop the others, nor spin
                        log.exception("could not advance rollout %s", rollout_id)
                        self._back_off(rollout_id, now, exc)
            except Exception:  # the lock or the record could not be read: the next tick tries again
                log.exception("could not lock or read rollout %s", rollout_id)
        return self._repo.next_wake()

    def relink_prompts(self) -> int:
        """After a restart: refresh each active rollout's cards in place (and re-post any that never got out)."""
        return sum(self.relink(rollout.id) for rollout in self._repo.active())

    def relink(self, rollout_id: int) -> bool:
        now = self._p.clock.now()
        with self._repo.exclusive(rollout_id, wait_s=DECISION_WAIT_S) as mine:
            rollout = self._repo.get(rollout_id) if mine else None
            if rollout is None:
                return False
            rollout = self._fx.ensure_thread(rollout, now, repost_missing=True)
            if rollout.step and rollout.step.status == StepStatus.PROMPTED:
                rollout = self._fx.post_or_refresh_prompt(rollout, now)
            self._save(rollout, now)
            return True

    def _advance(self, rollout: Rollout, now: datetime) -> None:
        settings = self._config.rollout
        for work in due_work(rollout, now, remind_after=settings.remind_after, escalate_after=settings.escalate_after):
            outbox: Outbox = []
            if work == Due.FINISH_FLIP:
                rollout = self._fx.flip(rollout, now, outbox, report=None)
            elif work == Due.CHECK_GATES:
                rollout = self._fx.watch_gates(rollout, now, outbox)
            elif work == Due.PROMPT:
                rollout = self._fx.open_step(rollout, now, outbox)
                self._save(rollout, now)  # the step is prompted before the card goes out: never posted twice
                if rollout.step and rollout.step.status == StepStatus.PROMPTED:
                    rollout = self._fx.post_or_refresh_prompt(rollout, now)
            elif work == Due.POST_PROMPT:
                rollout = self._fx.post_or_refresh_prompt(rollout, now)
            else:
                rollout = self._fx.nudge(rollout, now, outbox, escalate=work == Due.ESCALATE)
            routine = work == Due.CHECK_GATES and rollout.status == RolloutStatus.RUNNING
            self._save(rollout, now, announce=outbox, durable=not routine)
            if rollout.status != RolloutStatus.RUNNING:
                return

    def _resume_flip(self, rollout_id: int) -> None:
        now = self._p.clock.now()
        with self._repo.exclusive(rollout_id, wait_s=DECISION_WAIT_S) as mine:
            rollout = self._repo.get(rollout_id) if mine else None
            if rollout is not None:
                self._advance(rollout, now)

    def _back_off(self, rollout_id: int, now: datetime, exc: Exception) -> None:
        """After a failure (the lock is still held): try again in a few minutes, and say so in the thread once per
        distinct problem."""
        try:
            rollout = self._repo.get(rollout_id)
            if rollout is None:
                return
            problem = f"⚠️ zdm could not advance rollout #{rollout_id}: {type(exc).__name__}: {str(exc)[:200]}"
            new_problem = not rollout.history or problem not in rollout.history[-1]
            if new_problem:
                rollout = rollout.noted(now, problem)
            self._repo.save(rollout, wake_at=now + BACKOFF)
            if new_problem:
                self._fx.say(rollout, f"{problem}. Retrying every {format_duration(BACKOFF)}; the logs have details.")
        except Exception:
            log.exception("could not record the failure of rollout %s", rollout_id)

    def pause_for_alert(self, *, flag: str, reason: str) -> list[int]:
        """Pause the running rollouts of ``flag`` because an alert fired (said in each rollout's thread); return
        their ids. A rollout that is already paused or finished is left as it is."""
        done = []
        for rollout in self._repo.active():
            if rollout.flag != flag or rollout.status != RolloutStatus.RUNNING:
                continue
            try:
                changed = self._change_status(
                    rollout.id,
                    "pause",
                    lambda r, now: paused(r, now, actor=ALERT_ACTOR, reason=reason),
                    actor=ALERT_ACTOR,
                    reason=reason,
                )
            except UserError:
                continue  # paused or finished meanwhile
            done.append(changed.id)
        return done

    def flips(self, *, flag: str, since: datetime) -> list[Mark]:
        """The flips of ``flag``'s recent rollouts at or after ``since`` (marked on the alert card's chart)."""
        recent = [r for r in self._repo.recent(limit=20) if r.flag == flag]
        return sorted((m for r in recent for m in flip_marks(r) if m.at >= since), key=lambda m: m.at)

    def _check_status_change(self, rollout: Rollout, action: str, *, actor: str, reason: str) -> Callable[[], str]:
        """Before the ack: who asks and whether the change applies now. Returns the work that makes it."""
        roles = ("oncall", APPROVERS) if action in ("pause", "abort") else (APPROVERS,)
        self._require(actor, roles, f"{action} rollouts", subject=str(rollout.id))
        reason = reason or "no reason given"

        def change(r: Rollout, now: datetime) -> Rollout:
            if action == "pause":
                return paused(r, now, actor=actor, reason=reason)
            if action == "resume":
                return resumed(r, now, actor=actor)
            return aborted(r, now, actor=actor, reason=reason)

        change(rollout, self._p.clock.now())  # raises the plain sentence if it does not apply

        def work() -> str:
            changed = self._change_status(rollout.id, action, change, actor=actor, reason=reason)
            said = f"Rollout #{changed.id} is {changed.status.value}."
            if action == "resume":
                report = self._fx.gates(changed, self._p.clock.now(), held=self._repo.held(changed.flag))
                if report.breached:
                    every = format_duration(changed.gates.check_every)
                    said += f" Its KPIs still fail ({report.failing_sentence()}); the check in {every} pauses it again."
                if changed.step and changed.step.status == StepStatus.FLIPPING:
                    self._resume_flip(changed.id)  # now, not at the next tick: it re-checks the gates first
                self.advance_due()
            return said

        return work

    def _change_status(
        self, rollout_id: int, action: str, change: Callable[[Rollout, datetime], Rollout], *, actor: str, reason: str
    ) -> Rollout:
        now = self._p.clock.now()

        def apply(r: Rollout) -> Rollout:
            state = r.step
            if state is not None and state.status == StepStatus.FLIPPING:  # stopped between tenants, never completed
                if action == "abort":
                    done = len(state.enabled)
                    why = f"flip stopped by the abort after {done} of {len(state.cohort)} tenants"
                    state = replace(state, status=StepStatus.DONE, flipped_at=now, interrupted=None, reason=why)
                    if state.enabled:  # the tenants it did enable get their rollback-log entry like any flip
                        text = flip_log_entry(r.with_step(r.current, state), r.current)
                        self._p.log_file.append(marker=flip_marker(r.uid, r.current), text=text)
                elif action == "pause":
                    state = replace(state, interrupted=state.interrupted or "pause")
                r = r.with_step(r.current, state)
            return change(r, now)

        stops = action in ("pause", "abort")
        if stops:  # a flip running in another worker stops before its next tenant and lets go of the lock
            self._repo.request_stop(rollout_id, action)
        try:
            changed = self._locked_update(rollout_id, apply, wait_s=DECISION_WAIT_S)
        finally:
            if stops:
                self._repo.request_stop(rollout_id, None)
        self._fx.audit(changed, f"rollout.{action}", actor=actor, detail={"reason": reason})
        if changed.step and changed.step.status == StepStatus.PROMPTED:
            self._fx.refresh_prompt(changed, changed.current, now)
        verb = {"pause": "⏸ paused", "resume": "▶️ resumed", "abort": "⛔ aborted"}[action]
        said = "" if action == "resume" else f": {reason}"
        self._fx.say(changed, f"Rollout #{changed.id} {verb} by {mention(actor)}{said}")
        return changed
