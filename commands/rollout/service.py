"""Rollout service: ``/zdm rollout …``, the Approve / Deny buttons and the scheduler's ``advance_due(now)``.

Postgres is the source of truth. Every change to a rollout happens under its cross-process lock and is saved
before anything is posted, so a restart, a missed tick or a second replica never skips, repeats or double-posts a
step: ``advance_due`` only does what ``due_work`` says is due for the stored record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import GateBlocked, NoSuchRollout, NotAuthorized, SelfApproval, StalePrompt, UsageError, UserError
from commands.ports import AuditEvent, RolloutRepository
from commands.rollout.config import format_duration, plan_digest
from commands.rollout.effects import Outbox, RolloutEffects, RolloutPorts
from commands.rollout.gates import GateReport
from commands.rollout.model import (
    Due,
    Rollout,
    RolloutStatus,
    StepStatus,
    aborted,
    due_work,
    new_steps,
    next_wake,
    parse_rollout_args,
    paused,
    resumed,
)
from commands.rollout.views import list_line, status_card

log = logging.getLogger(__name__)
APPROVERS = "release_approvers"
DECISION_WAIT_S = 20.0
BACKOFF = timedelta(minutes=5)


class RolloutService:
    def __init__(self, *, config: RunbookConfig, ports: RolloutPorts) -> None:
        self._config = config
        self._p = ports
        self._fx = RolloutEffects(config, ports)

    @property
    def _repo(self) -> RolloutRepository:
        return self._p.repo

    # --- /zdm rollout ------------------------------------------------------------------------------------------

    def command(
        self, *, text: str, actor: str, correlation_id: str | None = None
    ) -> tuple[str, Card | None, Callable[[], object] | None]:
        """Run one ``/zdm rollout …`` subcommand; return the reply sentence, an optional card and optional work
        to run after Slack's ack."""
        request = parse_rollout_args(text)
        if request.action == "start":
            rollout = self.start(flag=request.flag, plan=request.plan, actor=actor, correlation_id=correlation_id)
            where = self._config.channels.release
            text = f"Started rollout #{rollout.id} of `{rollout.flag}`; approval prompts follow in {where}."
            return text, None, lambda: self.after_start(rollout.id)
        if request.action == "list":
            rollouts = self._repo.recent(limit=10)
            lines = tuple(list_line(r) for r in rollouts) or ("No rollouts yet. `/zdm rollout start` begins one.",)
            return "\n".join(lines), Card(title="Recent rollouts", lines=lines), None
        if request.action == "include":
            assert request.slug
            return self.include(slug=request.slug, actor=actor)
        rollout = self._find(request.rollout_id)
        if request.action == "status":
            card = self.status_card(rollout)
            return card.title, card, None
        work = self._check_status_change(rollout, request.action, actor=actor, reason=request.reason)
        verb = {"pause": "Pausing", "resume": "Resuming", "abort": "Aborting"}[request.action]
        return f"{verb} rollout #{rollout.id}…", None, work

    def start(self, *, flag: str | None, plan: str | None, actor: str, correlation_id: str | None) -> Rollout:
        self._require(actor, APPROVERS, "start rollouts")
        settings = self._config.rollout
        plan_name = plan or settings.default_plan
        if plan_name not in settings.plans:
            raise UsageError(f"There is no plan `{plan_name}` in zdm.toml; plans: {', '.join(settings.plans)}.")
        steps = settings.plans[plan_name]
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

    def after_start(self, rollout_id: int) -> None:
        """After the ack: open the rollout's thread in the release channel and do whatever is due already."""
        self.relink(rollout_id)
        self.advance_due()

    def status_card(self, rollout: Rollout) -> Card:
        now = self._p.clock.now()
        held = self._repo.held(rollout.flag)
        report = self._fx.gates(rollout, now, held=held) if rollout.status.active else None
        return status_card(rollout, held=held, report=report, now=now)

    def include(self, *, slug: str, actor: str) -> tuple[str, None, Callable[[], object]]:
        self._require(actor, APPROVERS, "re-include tenants")
        flag = self._config.flag.name
        held = self._repo.held(flag)
        if slug not in held:
            raise UsageError(f"`{slug}` is not held out of `{flag}` rollouts; nothing to re-include.")
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

    # --- buttons -----------------------------------------------------------------------------------------------

    def check_decidable(self, *, value: str, actor: str) -> Rollout:
        """Validate a click before anything happens (used before opening the Deny reason dialog)."""
        self._require(actor, APPROVERS, "approve or deny rollout steps")
        rollout_id, index, digest = _parse_token(value)
        rollout = self._repo.get(rollout_id)
        self._check_current(rollout, index, digest)
        assert rollout is not None
        return rollout

    def approve(self, *, value: str, actor: str) -> str:
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
            return self._approve_locked(value, actor)

    def _approve_locked(self, value: str, actor: str) -> str:
        rollout_id, index, digest = _parse_token(value)
        rollout = self._repo.get(rollout_id)
        self._check_current(rollout, index, digest)
        assert rollout is not None and rollout.step is not None and rollout.plan_step is not None
        now = self._p.clock.now()
        state, required = rollout.step, rollout.plan_step.required_approvals
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
        if report.blocks:
            self._fx.audit(rollout, "rollout.approve", actor=actor, outcome="blocked", detail={"why": _why(report)})
            self._fx.refresh_prompt(rollout, index, now, report=report)
            raise GateBlocked(why=_why(report))
        rollout = rollout.with_step(index, replace(state, approvals=approvals, status=StepStatus.FLIPPING))
        rollout = replace(rollout.with_step(index, replace(rollout.steps[index], flipped_by=actor)))
        self._fx.audit(rollout, "rollout.approve", actor=actor, detail={"step": index, "count": len(approvals)})
        self._save(rollout, now)  # claimed: a crash from here on is finished by the next tick, never repeated
        outbox: Outbox = []
        rollout = self._fx.flip(rollout, now, outbox, report=report)
        self._save(rollout, now, announce=outbox)
        done = rollout.steps[index]
        return (
            f"Enabled `{rollout.flag}` for {len(done.enabled)} tenants (step {index + 1}, {rollout.plan[index].name})."
        )

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

    # --- the scheduler -----------------------------------------------------------------------------------------

    def advance_due(self, now: datetime | None = None) -> datetime | None:
        """Do whatever is due for every running rollout; return when to wake up next. Idempotent and safe to
        run from several replicas at once (each rollout is advanced under its lock, from its stored state)."""
        now = now or self._p.clock.now()
        for rollout_id in self._repo.due(now):
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

    # --- helpers -----------------------------------------------------------------------------------------------

    def _check_status_change(self, rollout: Rollout, action: str, *, actor: str, reason: str) -> Callable[[], str]:
        """Before the ack: who asks and whether the change applies now. Returns the work that makes it."""
        roles = ("oncall", APPROVERS) if action in ("pause", "abort") else (APPROVERS,)
        if not any(self._p.roles.has_role(actor, role) for role in roles):
            self._refused(actor, f"rollout.{action}", str(rollout.id), roles[-1])
            raise NotAuthorized(user=actor, role=roles, action=f"{action} rollouts")
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
                self.advance_due()
            return said

        return work

    def _change_status(
        self, rollout_id: int, action: str, change: Callable[[Rollout, datetime], Rollout], *, actor: str, reason: str
    ) -> Rollout:
        now = self._p.clock.now()

        def apply(r: Rollout) -> Rollout:
            if r.step and r.step.status == StepStatus.FLIPPING:  # a flip interrupted by a crash is finished first
                r = self._fx.flip(r, now, [], report=None)
            return change(r, now)

        changed = self._locked_update(rollout_id, apply, wait_s=DECISION_WAIT_S)
        self._fx.audit(changed, f"rollout.{action}", actor=actor, detail={"reason": reason})
        if changed.step and changed.step.status == StepStatus.PROMPTED:
            self._fx.refresh_prompt(changed, changed.current, now)
        verb = {"pause": "⏸ paused", "resume": "▶️ resumed", "abort": "⛔ aborted"}[action]
        said = "" if action == "resume" else f": {reason}"
        self._fx.say(changed, f"Rollout #{changed.id} {verb} by <@{actor}>{said}")
        return changed

    def _locked_update(self, rollout_id: int, change: Callable[[Rollout], Rollout], *, wait_s: float = 5.0) -> Rollout:
        with self._repo.exclusive(rollout_id, wait_s=wait_s) as mine:
            if not mine:
                raise UserError(f"Another zdm worker is busy with rollout #{rollout_id}; try again in a few seconds.")
            rollout = self._repo.get(rollout_id)
            if rollout is None:
                raise NoSuchRollout(rollout_id=rollout_id)
            now = self._p.clock.now()
            updated: Rollout = change(rollout)
            self._save(updated, now)
            self._fx.refresh_root(updated, now)
            return updated

    def _find(self, rollout_id: int | None) -> Rollout:
        if rollout_id is not None:
            found = self._repo.get(rollout_id)
            if found is None:
                raise NoSuchRollout(rollout_id=rollout_id)
            return found
        active = self._repo.active()
        if len(active) > 1:
            ids = ", ".join(f"#{r.id}" for r in active)
            raise UsageError(
                f"Several rollouts are active ({ids}); name one, e.g. `/zdm rollout status #{active[0].id}`."
            )
        if active:
            return active[0]
        recent = self._repo.recent(limit=1)
        if not recent:
            raise NoSuchRollout(rollout_id=None)
        return recent[0]

    def _check_current(self, rollout: Rollout | None, index: int, digest: str) -> None:
        if rollout is None:
            raise StalePrompt(what="that rollout no longer exists")
        if digest != rollout.digest:
            raise StalePrompt(what="the rollout's plan has changed since this card was posted")
        if rollout.status in (RolloutStatus.ABORTED, RolloutStatus.DENIED, RolloutStatus.DONE):
            raise StalePrompt(what=f"rollout #{rollout.id} is {rollout.status.value}")
        if index != rollout.current or rollout.step is None or rollout.step.status != StepStatus.PROMPTED:
            raise StalePrompt(what=f"step {index + 1} of rollout #{rollout.id} is no longer waiting for approval")
        if rollout.status == RolloutStatus.PAUSED:
            raise UserError(f"Rollout #{rollout.id} is paused; `/zdm rollout resume` it first, then decide.")

    def _require(self, actor: str, role: str, action: str) -> None:
        if not self._p.roles.has_role(actor, role):
            self._refused(actor, "rollout." + action.split()[0], action, role)
            raise NotAuthorized(user=actor, role=role, action=action)

    def _refused(self, actor: str, action: str, subject: str, role: str) -> None:
        event = AuditEvent(actor, action, subject, "refused", {"missing_role": role})
        self._p.audit.record(event, at=self._p.clock.now())

    def _save(self, rollout: Rollout, now: datetime, *, announce: Sequence[str] = (), durable: bool = True) -> None:
        settings = self._config.rollout
        wake = next_wake(rollout, now, remind_after=settings.remind_after, escalate_after=settings.escalate_after)
        self._repo.save(rollout, wake_at=wake, durable=durable)
        for text in announce:  # only once the record says it happened
            self._fx.say(rollout, text)


def _parse_token(value: str) -> tuple[int, int, str]:
    parts = value.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise StalePrompt(what="the button does not name a rollout step")
    return int(parts[0]), int(parts[1]), parts[2]


def _why(report: GateReport) -> str:
    return report.failing_sentence()
