"""Rollout transitions the scheduler and the flip make (see ``commands.rollout.transitions`` for the contract):
a KPI check, a step becoming due, a flip's outcome, a reminder."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from commands.rollout.effect_types import Announce, AppendLog, Audit, Effect, PostPrompt, RefreshPrompt, RefreshRoot
from commands.rollout.exposure import GuardedFlip
from commands.rollout.gates import GateReport
from commands.rollout.model import Rollout, RolloutStatus, StepStatus, anchored
from commands.rollout.transitions import Transition
from commands.rollout.views import ago, flip_log_entry, flip_marker
from commands.rollout.views import mention as mention_entry

ZDM = "zdm"  # the actor of what the scheduler does


def gates_checked(rollout: Rollout, now: datetime, *, report: GateReport) -> Transition:
    """While waiting for the next step: a real breach pauses the rollout and says why in the thread."""
    checked = replace(rollout, gates_checked_at=now)
    if not report.breached:
        return Transition(checked, durable=False)
    why = report.failing_sentence()
    changed = replace(checked, status=RolloutStatus.PAUSED, paused_at=now, status_reason=f"KPI breach: {why}")
    changed = changed.noted(now, f"paused automatically: KPI breach — {why}")
    effects: list[Effect] = [Audit("rollout.auto_pause", ZDM, {"why": why}, "paused"), RefreshRoot()]
    if changed.step and changed.step.status == StepStatus.PROMPTED:
        effects.append(RefreshPrompt(changed.current, report))
    effects.append(
        Announce(
            f"⏸ Rollout #{changed.id} paused automatically: KPI breach — {why}. Investigate, then "
            "`/zdm rollout resume` (or `/zdm rollout abort <reason>`)."
        )
    )
    return Transition(changed, tuple(effects))


def step_opened(
    rollout: Rollout, now: datetime, *, selected: Sequence[str], held: Collection[str], enabled: Collection[str]
) -> Transition:
    """The current step is due: its cohort is what the plan selects now minus held-out and enabled tenants. With
    nothing left to enable the step is skipped; otherwise it is prompted and its card posted."""
    index, step = rollout.current, rollout.plan[rollout.current]
    candidates = [t for t in selected if t not in held]
    cohort = tuple(t for t in candidates if t not in enabled)
    state = replace(
        rollout.steps[index],
        status=StepStatus.PROMPTED,
        cohort=cohort,
        already_enabled=tuple(t for t in candidates if t in enabled),
        held_out=tuple(t for t in selected if t in held),
        prompted_at=now,
    )
    changed = rollout.with_step(index, state)
    audit = Audit("rollout.step_due", ZDM, {"step": index, "cohort": len(cohort)})
    if cohort:
        changed = changed.noted(now, f"step {index + 1} `{step.name}` due: {len(cohort)} tenants to enable")
        return Transition(changed, (audit, PostPrompt()))
    reason = "nothing left to enable" + (f" ({len(state.already_enabled)} already on)" if enabled else "")
    state = replace(state, status=StepStatus.SKIPPED, reason=reason, flipped_at=now)
    changed, finished = _next_step(anchored(changed.with_step(index, state), index, now), now)
    changed = changed.noted(now, f"step {index + 1} `{step.name}` skipped: {reason}")
    said = Announce(f"➖ Step {index + 1} `{step.name}` skipped: {reason}.")
    return Transition(changed, (audit, *finished, RefreshRoot(), said))


def prompt_unposted(rollout: Rollout) -> Transition:
    """The prompted step's card never got out (Slack was down when it became due): post it now."""
    return Transition(rollout, (PostPrompt(),))


def flip_applied(rollout: Rollout, now: datetime, *, result: GuardedFlip, report: GateReport | None) -> Transition:
    """What one (resumed) flip of the claimed step did. Stopped by a pause or abort: the step stays claimed with
    the rest off. Otherwise the step is done, its rollback-log entry written first, and the next one waits."""
    index, state = rollout.current, rollout.steps[rollout.current]
    state = replace(
        state,
        enabled=(*state.enabled, *result.changed, *result.unchanged),
        failed=(*state.failed, *result.failed),
        skipped=(*state.skipped, *result.skipped),
        interrupted=result.stopped,
    )
    changed = rollout.with_step(index, state)
    step = rollout.plan[index]
    if result.stopped:
        left = len(state.cohort) - len(state.enabled) - len(state.failed) - len(state.skipped)
        changed = changed.noted(
            now, f"step {index + 1} `{step.name}`: flip stopped by the {result.stopped}; {left} tenants left off"
        )
        return Transition(changed, (RefreshPrompt(index, report),))
    state = replace(state, status=StepStatus.DONE, flipped_at=now)
    changed = anchored(changed.with_step(index, state), index, now)
    entry = AppendLog(flip_marker(changed.uid, index), flip_log_entry(changed, index))
    changed, finished = _next_step(replace(changed, last_flip_at=now), now)
    actor = state.flipped_by or ZDM
    changed = changed.noted(now, f"step {index + 1} `{step.name}`: enabled {len(state.enabled)} by <@{actor}>")
    effects: list[Effect] = [*finished, RefreshPrompt(index, report), RefreshRoot()]
    if state.skipped:
        names = ", ".join(f"`{t}`" for t, _ in state.skipped[:10])
        effects.append(
            Announce(f"⏭ Step {index + 1} left {len(state.skipped)} tenants off, rolled back during the flip: {names}.")
        )
    if changed.status == RolloutStatus.DONE:
        effects.append(Announce(f"✅ Rollout #{changed.id} finished: `{changed.flag}` is on for every step's cohort."))
    return Transition(changed, tuple(effects), write_ahead=(entry,))


def flip_held(rollout: Rollout, now: datetime, *, report: GateReport) -> Transition:
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
    changed = rollout.with_step(index, state).noted(now, f"step {index + 1}: stopped flip not resumed — {why}")
    said = Announce(
        f"⏸ Step {index + 1}'s stopped flip was not resumed: the KPI gates fail ({why}). "
        "It needs a fresh approval once they pass."
    )
    return Transition(changed, (RefreshPrompt(index, report), RefreshRoot(), said))


def nudged(rollout: Rollout, now: datetime, *, escalate: bool, members: Sequence[str]) -> Transition:
    """The prompt has waited too long: remind the release approvers, or page on-call (``members``: that role)."""
    state = rollout.step
    assert state is not None and state.prompted_at is not None
    waited = ago(now - state.prompted_at)
    names = " ".join(mention_entry(m) for m in members)
    step = rollout.current + 1
    if escalate:
        who = names or "on-call (no one configured)"
        text = f"🚨 {who}: step {step} of rollout #{rollout.id} has waited {waited} for approval."
        changed = rollout.with_step(rollout.current, replace(state, escalated_at=now, reminded_at=now))
    else:
        who = names or "release approvers"
        text = f"⏰ Reminder {who}: step {step} of rollout #{rollout.id} waits for approval ({waited})."
        changed = rollout.with_step(rollout.current, replace(state, reminded_at=now))
    audit = Audit("rollout.escalated" if escalate else "rollout.reminded", ZDM, {})
    return Transition(changed, (audit, Announce(text)))


def _next_step(rollout: Rollout, now: datetime) -> tuple[Rollout, tuple[Effect, ...]]:
    current = rollout.current + 1
    if current >= len(rollout.plan):
        done = replace(rollout, current=current, status=RolloutStatus.DONE, finished_at=now)
        return done, (Audit("rollout.finished", ZDM, {}),)
    return replace(rollout, current=current), ()
