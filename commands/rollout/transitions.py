"""Every change to a rollout as a pure function: the stored ``Rollout``, what happened and ``now`` in, a
``Transition`` out — the new state plus the effects that tell the world, as plain data.

Nothing here reads a database, a KPI source or a clock, and nothing posts: the service's interpreter
(``RolloutContext.commit``) saves ``state`` under the rollout's lock and only then runs ``effects`` in order, so a
reply, a card or an audit line never describes a change the record does not hold. ``write_ahead`` effects are the
exception, and are idempotent: the rollback-log entry of a flip is written before the record that says the flip is
done, so a crash between the two repeats the (deduplicated) entry instead of losing it. A ``refused`` transition
saves nothing: its effects (an audit line, a redrawn card) run and its sentence is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from commands.cards import mention
from commands.errors import GateBlocked, StalePrompt, UserError
from commands.readiness.model import Readiness, RollbackNotReady
from commands.rollout.effect_types import (
    Announce,
    AppendLog,
    Audit,
    Effect,
    RefreshPrompt,
    RefreshRoot,
)
from commands.rollout.gates import GateReport
from commands.rollout.model import Rollout, RolloutStatus, StepStatus, aborted, paused, resumed
from commands.rollout.views import flip_log_entry, flip_marker


@dataclass(frozen=True)
class Transition:
    state: Rollout
    effects: tuple[Effect, ...] = ()
    write_ahead: tuple[AppendLog, ...] = ()  # idempotent records the saved state refers to: written before it
    durable: bool = True  # False: bookkeeping that is safe to lose (a routine KPI check that found nothing)
    refused: UserError | None = None  # nothing is saved; the effects run and this sentence is raised


# --- starting, approving, denying --------------------------------------------------------------------------


def started(rollout: Rollout, now: datetime, *, actor: str) -> Transition:
    """A rollout just created (``rollout.id`` assigned by the repository)."""
    noted = rollout.noted(now, f"started by <@{actor}> with plan `{rollout.plan_name}`")
    return Transition(noted, (Audit("rollout.started", actor, {"plan": rollout.plan_name}),))


def check_current(rollout: Rollout | None, index: int, digest: str) -> None:
    """Raise the plain sentence when a click on step ``index``'s card (plan ``digest``) no longer applies."""
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


def approvals_missing(rollout: Rollout, *, actor: str) -> int:
    """How many approvals the current step still needs once ``actor``'s counts (0: it can be flipped)."""
    state, plan = rollout.step, rollout.plan_step
    assert state is not None and plan is not None
    missing = plan.required_approvals - len(state.approvals)
    if actor in state.approvals:
        raise UserError(f"You already approved this step; it needs {missing} more.")
    return max(missing - 1, 0)


def approval_added(rollout: Rollout, now: datetime, *, actor: str) -> Transition:
    """One more approval of the current step, not yet enough to flip it."""
    index, state, plan = rollout.current, rollout.step, rollout.plan_step
    assert state is not None and plan is not None
    approvals = (*state.approvals, actor)
    changed = rollout.with_step(index, replace(state, approvals=approvals))
    changed = changed.noted(
        now, f"<@{actor}> approved step {index + 1} ({len(approvals)} of {plan.required_approvals})"
    )
    audit = Audit("rollout.approve", actor, {"step": index, "count": len(approvals)})
    return Transition(changed, (audit, RefreshPrompt(index)))


def approval_blocked(rollout: Rollout, *, actor: str, report: GateReport) -> Transition:
    """The last approval arrived while the KPI gate forbids a flip: nothing changes, the card shows why."""
    why = report.failing_sentence()
    effects = (Audit("rollout.approve", actor, {"why": why}, "blocked"), RefreshPrompt(rollout.current, report))
    return Transition(rollout, effects, refused=GateBlocked(why=why))


def readiness_blocked(rollout: Rollout, *, actor: str, readiness: Readiness) -> Transition:
    """An approval while the flag's rollback path is not ready: refused, and the card redrawn to say why."""
    audit = Audit("rollout.approve", actor, {"why": readiness.sentence()}, "blocked")
    subject = f"step {rollout.current + 1} of rollout #{rollout.id}"
    refused = RollbackNotReady(subject=subject, readiness=readiness)
    return Transition(rollout, (audit, RefreshPrompt(rollout.current)), refused=refused)


def step_claimed(rollout: Rollout, *, actor: str, break_glass: str | None) -> Transition:
    """The approval that completes the step claims it for the flip (saved before any tenant is touched: a crash
    from here on is finished by the next tick, never repeated)."""
    index, state = rollout.current, rollout.step
    assert state is not None
    approvals = (*state.approvals, actor)
    claimed = replace(state, approvals=approvals, status=StepStatus.FLIPPING, flipped_by=actor)
    changed = rollout.with_step(index, claimed)
    detail = {"step": index, "count": len(approvals), **({"break_glass": break_glass} if break_glass else {})}
    return Transition(changed, (Audit("rollout.approve", actor, detail),))


def denied(rollout: Rollout, now: datetime, *, index: int, digest: str, actor: str, reason: str) -> Transition:
    check_current(rollout, index, digest)
    step = replace(rollout.steps[index], status=StepStatus.DENIED, denied_by=actor, reason=reason)
    changed = replace(
        rollout.with_step(index, step), status=RolloutStatus.DENIED, status_reason=reason, finished_at=now
    )
    changed = changed.noted(now, f"<@{actor}> denied step {index + 1}: {reason}")
    return Transition(
        changed,
        (
            RefreshRoot(),
            Audit("rollout.denied", actor, {"reason": reason}),
            RefreshPrompt(changed.current),
            Announce(f"⛔ Rollout #{changed.id} stopped: <@{actor}> denied it — {reason}"),
        ),
    )


# --- pause, resume, abort (a person, or an alert) ----------------------------------------------------------


def status_changed(rollout: Rollout, now: datetime, *, action: str, actor: str, reason: str) -> Transition:
    """``action`` is pause, resume or abort; a UserError says why it does not apply. A flip running when the
    rollout is stopped was stopped between tenants and is never completed: an abort closes the step with what it
    enabled (and their rollback-log entry), a pause leaves it to be resumed."""
    write_ahead: tuple[AppendLog, ...] = ()
    state = rollout.step
    if state is not None and state.status == StepStatus.FLIPPING:
        if action == "abort":
            why = f"flip stopped by the abort after {len(state.enabled)} of {len(state.cohort)} tenants"
            state = replace(state, status=StepStatus.DONE, flipped_at=now, interrupted=None, reason=why)
            if state.enabled:  # the tenants it did enable get their rollback-log entry like any flip
                entry = flip_log_entry(rollout.with_step(rollout.current, state), rollout.current)
                write_ahead = (AppendLog(flip_marker(rollout.uid, rollout.current), entry),)
        elif action == "pause":
            state = replace(state, interrupted=state.interrupted or "pause")
        rollout = rollout.with_step(rollout.current, state)
    if action == "pause":
        changed = paused(rollout, now, actor=actor, reason=reason)
    elif action == "resume":
        changed = resumed(rollout, now, actor=actor)
    else:
        changed = aborted(rollout, now, actor=actor, reason=reason)
    effects: list[Effect] = [RefreshRoot(), Audit(f"rollout.{action}", actor, {"reason": reason})]
    if changed.step and changed.step.status == StepStatus.PROMPTED:
        effects.append(RefreshPrompt(changed.current))
    verb = {"pause": "⏸ paused", "resume": "▶️ resumed", "abort": "⛔ aborted"}[action]
    said = "" if action == "resume" else f": {reason}"
    effects.append(Announce(f"Rollout #{changed.id} {verb} by {mention(actor)}{said}"))
    return Transition(changed, tuple(effects), write_ahead=write_ahead)


def include_noted(rollout: Rollout, now: datetime, *, actor: str, slug: str) -> Transition:
    return Transition(rollout.noted(now, f"<@{actor}> re-included `{slug}`"), (RefreshRoot(),))
