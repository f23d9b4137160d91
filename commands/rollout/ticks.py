"""The scheduler's side of a rollout: ``advance_due(now)`` does what ``due_work`` says is due for each stored
record, one transition at a time, and ``relink`` repairs the thread's cards after a restart."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from commands.rollout.config import format_duration
from commands.rollout.core import DECISION_WAIT_S, RolloutContext
from commands.rollout.model import Due, Rollout, RolloutStatus, StepStatus, due_work
from commands.rollout.step_transitions import gates_checked, nudged, prompt_unposted, step_opened
from commands.rollout.transitions import Transition
from commands.rollout.watch_batch import BatchedRolloutStore, check_routine

log = logging.getLogger(__name__)
BACKOFF = timedelta(minutes=5)


class RolloutTicks:
    def __init__(self, ctx: RolloutContext) -> None:
        self._ctx = ctx

    def advance_due(self, now: datetime | None = None) -> datetime | None:
        """Do whatever is due for every running rollout; return when to wake up next. Idempotent and safe to
        run from several replicas at once (each rollout is advanced under its lock, from its stored state; routine
        KPI checks that find nothing are saved together by a compare-and-set instead, see ``watch_batch``)."""
        ctx = self._ctx
        now = now or ctx.ports.clock.now()
        due = ctx.repo.due(now)
        if due and isinstance(ctx.repo, BatchedRolloutStore):  # routine KPI checks first, all together
            settings = ctx.config.rollout
            due = check_routine(
                ctx.repo, ctx.ports.kpis, due, now,
                remind_after=settings.remind_after, escalate_after=settings.escalate_after,
            )  # fmt: skip
        for rollout_id in due:
            try:
                with ctx.repo.exclusive(rollout_id) as mine:
                    rollout = ctx.repo.get(rollout_id) if mine else None
                    if rollout is None:
                        continue
                    try:
                        self.advance(rollout, now)
                    except Exception as exc:  # one broken rollout must not stop the others, nor spin
                        log.exception("could not advance rollout %s", rollout_id)
                        self._back_off(rollout_id, now, exc)
            except Exception:  # the lock or the record could not be read: the next tick tries again
                log.exception("could not lock or read rollout %s", rollout_id)
        return ctx.repo.next_wake()

    def advance(self, rollout: Rollout, now: datetime) -> None:
        """Everything due for ``rollout`` (the caller holds its lock), each piece committed before the next."""
        settings = self._ctx.config.rollout
        for work in due_work(rollout, now, remind_after=settings.remind_after, escalate_after=settings.escalate_after):
            if work == Due.FINISH_FLIP:
                rollout = self._ctx.finish_flip(rollout, now, report=None)
            else:
                rollout = self._ctx.commit(self._decide(work, rollout, now), now)
            if rollout.status != RolloutStatus.RUNNING:
                return

    def _decide(self, work: Due, rollout: Rollout, now: datetime) -> Transition:
        """Read what ``work`` depends on, and decide (purely) what changes."""
        fx, repo = self._ctx.fx, self._ctx.repo
        if work == Due.CHECK_GATES:
            return gates_checked(rollout, now, report=fx.gates(rollout, now, held=repo.held(rollout.flag)))
        if work == Due.PROMPT:  # the step is prompted (and saved) before its card goes out: never posted twice
            selected, held, enabled = fx.cohort_facts(rollout, now)
            return step_opened(rollout, now, selected=selected, held=held, enabled=enabled)
        if work == Due.POST_PROMPT:
            return prompt_unposted(rollout)
        escalate = work == Due.ESCALATE
        members = self._ctx.ports.roles.members("oncall" if escalate else "release_approvers")
        return nudged(rollout, now, escalate=escalate, members=members)

    def resume_flip(self, rollout_id: int) -> None:
        """A resumed rollout's stopped flip, now rather than at the next tick (it re-checks the gates first)."""
        now = self._ctx.ports.clock.now()
        with self._ctx.repo.exclusive(rollout_id, wait_s=DECISION_WAIT_S) as mine:
            rollout = self._ctx.repo.get(rollout_id) if mine else None
            if rollout is not None:
                self.advance(rollout, now)

    def relink_prompts(self) -> int:
        """After a restart: refresh each active rollout's cards in place (and re-post any that never got out)."""
        return sum(self.relink(rollout.id) for rollout in self._ctx.repo.active())

    def relink(self, rollout_id: int) -> bool:
        ctx = self._ctx
        now = ctx.ports.clock.now()
        with ctx.repo.exclusive(rollout_id, wait_s=DECISION_WAIT_S) as mine:
            rollout = ctx.repo.get(rollout_id) if mine else None
            if rollout is None:
                return False
            rollout = ctx.fx.ensure_thread(rollout, now, repost_missing=True)
            if rollout.step and rollout.step.status == StepStatus.PROMPTED:
                rollout = ctx.fx.post_or_refresh_prompt(rollout, now)
            ctx.save(rollout, now)
            return True

    def _back_off(self, rollout_id: int, now: datetime, exc: Exception) -> None:
        """After a failure (the lock is still held): try again in a few minutes, and say so in the thread once per
        distinct problem."""
        repo = self._ctx.repo
        try:
            rollout = repo.get(rollout_id)
            if rollout is None:
                return
            problem = f"⚠️ zdm could not advance rollout #{rollout_id}: {type(exc).__name__}: {str(exc)[:200]}"
            new_problem = not rollout.history or problem not in rollout.history[-1]
            if new_problem:
                rollout = rollout.noted(now, problem)
            repo.save(rollout, wake_at=now + BACKOFF)
            if new_problem:
                every = format_duration(BACKOFF)
                self._ctx.fx.say(rollout, f"{problem}. Retrying every {every}; the logs have details.")
        except Exception:
            log.exception("could not record the failure of rollout %s", rollout_id)
