"""A flag rollout as data, and the pure decisions about it (what is due at ``now``, when to wake up next).

A rollout walks its plan's steps in order. A step is *waiting* until it is due, then *prompted* (an approval card
is posted), then *flipping* (claimed for the flip; a crash here is finished by the next tick) and finally *done*,
*skipped* (nothing left to enable) or *denied*. Offsets after the first step count from the first flip (T+0), and
a step also waits the plan's gap (and at least ``gates.hold_for``) after the previous flip, so the tenants just
enabled are observed before more are added. Pausing stops the clock: the time spent paused is added to every later
offset. A pause or abort stops a flip between tenants (``StepState.interrupted``), never completes it.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from commands.cards import mention
from commands.errors import UsageError
from commands.rollout.config import GatesConfig, PlanStep

SLUG = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,62}\Z")
RETRY_AFTER = timedelta(minutes=1)  # an unfinished flip or an unposted prompt is retried this often
FLAG = re.compile(r"\A[A-Za-z0-9_.:-]{1,100}\Z")
MAX_REASON = 300


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    ABORTED = "aborted"
    DENIED = "denied"

    @property
    def active(self) -> bool:
        return self in (RolloutStatus.RUNNING, RolloutStatus.PAUSED)


class StepStatus(StrEnum):
    WAITING = "waiting"
    PROMPTED = "prompted"
    FLIPPING = "flipping"
    DONE = "done"
    SKIPPED = "skipped"
    DENIED = "denied"


class Due(StrEnum):
    """Work ``advance_due`` has to do for one rollout at ``now``."""

    FINISH_FLIP = "finish_flip"
    PROMPT = "prompt"
    POST_PROMPT = "post_prompt"
    CHECK_GATES = "check_gates"
    REMIND = "remind"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class StepState:
    status: StepStatus = StepStatus.WAITING
    cohort: tuple[str, ...] = ()  # to enable, resolved when the step became due
    already_enabled: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()
    prompted_at: datetime | None = None
    prompt_ts: str | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    approvals: tuple[str, ...] = ()
    flipped_at: datetime | None = None
    flipped_by: str | None = None
    enabled: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (tenant, why) for the command backend
    denied_by: str | None = None
    reason: str | None = None
    skipped: tuple[tuple[str, str], ...] = ()  # (tenant, why): rolled back while the flip ran, so left off
    interrupted: str | None = None  # "pause" / "abort": a person stopped the flip between tenants


@dataclass(frozen=True)
class Rollout:
    id: int
    flag: str
    plan_name: str
    plan: tuple[PlanStep, ...]
    gates: GatesConfig
    digest: str
    started_by: str
    started_at: datetime
    status: RolloutStatus = RolloutStatus.RUNNING
    status_reason: str | None = None
    current: int = 0
    steps: tuple[StepState, ...] = ()
    paused_at: datetime | None = None
    paused_total: timedelta = timedelta(0)
    last_flip_at: datetime | None = None
    gates_checked_at: datetime | None = None
    channel: str | None = None
    thread_ts: str | None = None
    finished_at: datetime | None = None
    correlation_id: str | None = None
    paused_before_first_flip: timedelta | None = None  # paused_total when step 1 was done (T+0 of the cadence)
    history: tuple[str, ...] = field(default=())  # one line per event, for `/zdm rollout status`
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))  # globally unique: the flip entries' markers

    @property
    def step(self) -> StepState | None:
        return self.steps[self.current] if self.current < len(self.steps) else None

    @property
    def plan_step(self) -> PlanStep | None:
        return self.plan[self.current] if self.current < len(self.plan) else None

    def with_step(self, index: int, state: StepState) -> Rollout:
        steps = list(self.steps)
        steps[index] = state
        return replace(self, steps=tuple(steps))

    def exposed(self, held: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Tenants this rollout has enabled (or found enabled, or enabled before a flip was stopped), minus those
        held out since."""
        seen: dict[str, None] = {}
        for state in self.steps:
            if state.status in (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.FLIPPING):
                for tenant in (*state.enabled, *state.already_enabled):
                    if tenant not in held:
                        seen[tenant] = None
        return list(seen)

    def noted(self, now: datetime, text: str) -> Rollout:
        return replace(self, history=(*self.history, f"{now:%Y-%m-%d %H:%M} UTC — {text}"))


def new_steps(count: int) -> tuple[StepState, ...]:
    return tuple(StepState() for _ in range(count))


def paused_for(rollout: Rollout, now: datetime) -> timedelta:
    extra = now - rollout.paused_at if rollout.paused_at else timedelta(0)
    return rollout.paused_total + max(extra, timedelta(0))  # a clock stepped back never shortens a pause


def due_at(rollout: Rollout, index: int) -> datetime:
    """When step ``index`` becomes due (assuming the rollout is not paused from now on)."""
    return due_with_reason(rollout, index)[0]


def due_with_reason(rollout: Rollout, index: int) -> tuple[datetime, str]:
    """When step ``index`` is due, and why then. The first step counts from the start; every later offset counts
    from the first flip (T+0 = step 1 done), and a step also waits the plan's gap (and at least the gates'
    ``hold_for``) after the previous flip, so the tenants just enabled are observed for as long as the plan says."""
    step = rollout.plan[index]
    anchor = rollout.steps[0].flipped_at if rollout.steps else None
    if index == 0 or anchor is None:
        return rollout.started_at + step.at + rollout.paused_total, f"T+{_h(step.at)} after the rollout started"
    paused_since = rollout.paused_total - (rollout.paused_before_first_flip or timedelta(0))
    offset = step.at - rollout.plan[0].at
    options = [(anchor + offset + paused_since, f"T+{_h(offset)} after the first flip ({anchor:%Y-%m-%d %H:%M} UTC)")]
    if rollout.last_flip_at is not None:
        gap = step.at - rollout.plan[index - 1].at
        options.append((rollout.last_flip_at + gap, f"the plan's {_h(gap)} gap after the previous flip"))
        options.append((rollout.last_flip_at + rollout.gates.hold_for, "the gates' hold_for after the previous flip"))
    return max(options, key=lambda option: option[0])


def anchored(rollout: Rollout, index: int, now: datetime) -> Rollout:
    """Step ``index`` is done at ``now``: the first one fixes T+0 of the cadence."""
    if index != 0:
        return rollout
    return replace(rollout, paused_before_first_flip=rollout.paused_total)


def _h(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}h"


def due_work(rollout: Rollout, now: datetime, *, remind_after: timedelta, escalate_after: timedelta) -> list[Due]:
    """What has to happen now, in order. Pure: the same rollout at the same ``now`` always gives the same list."""
    state = rollout.step
    if rollout.status != RolloutStatus.RUNNING or state is None:
        return []
    if state.status == StepStatus.FLIPPING:
        return [Due.FINISH_FLIP]
    work: list[Due] = []
    if _gates_due(rollout, now):
        work.append(Due.CHECK_GATES)
    if state.status == StepStatus.WAITING and now >= due_at(rollout, rollout.current):
        work.append(Due.PROMPT)
    elif state.status == StepStatus.PROMPTED and state.prompted_at is not None:
        if state.prompt_ts is None:
            work.append(Due.POST_PROMPT)
        if state.escalated_at is None and now >= state.prompted_at + escalate_after:
            work.append(Due.ESCALATE)
        elif state.reminded_at is None and now >= state.prompted_at + remind_after:
            work.append(Due.REMIND)
    return work


def next_wake(
    rollout: Rollout, now: datetime, *, remind_after: timedelta, escalate_after: timedelta
) -> datetime | None:
    """The earliest time anything about this rollout can become due; None when nothing will without a person."""
    state = rollout.step
    if rollout.status != RolloutStatus.RUNNING or state is None:
        return None
    if state.status == StepStatus.FLIPPING:
        return now + RETRY_AFTER  # the flipping worker saves a new time when it is done; this is for a crash
    times: list[datetime] = []
    if rollout.exposed():
        times.append(next_gate_check(rollout) or now + rollout.gates.check_every)
    if state.status == StepStatus.WAITING:
        times.append(due_at(rollout, rollout.current))
    elif state.status == StepStatus.PROMPTED and state.prompted_at is not None:
        if state.prompt_ts is None:
            times.append(now + RETRY_AFTER)
        if state.reminded_at is None:
            times.append(state.prompted_at + remind_after)
        if state.escalated_at is None:
            times.append(state.prompted_at + escalate_after)
    return min(times) if times else None


def _gates_due(rollout: Rollout, now: datetime) -> bool:
    if not rollout.exposed():
        return False
    due = next_gate_check(rollout)
    return due is None or now >= due


GOLDEN = 0.6180339887498949  # rollout ids times this, modulo 1, are spread evenly over any interval


def next_gate_check(rollout: Rollout) -> datetime | None:
    """When the KPI gates are next due (None: now). Each rollout keeps its own phase within ``check_every`` (from
    its id), so a thousand rollouts approved together do not all check on the same tick: the next check is the
    one moment in ``(last check, last check + check_every]`` at that phase — never later than ``check_every``
    after the last one (or after the last flip, whose approval re-checked the gates), and exactly
    ``check_every`` apart from then on."""
    last = rollout.gates_checked_at or rollout.last_flip_at
    if last is None:
        return None
    every = rollout.gates.check_every.total_seconds()
    if every <= 0:
        return last
    phase = (rollout.id * GOLDEN) % 1.0 * every
    end = last.timestamp() + every
    due = math.floor((end - phase) / every) * every + phase
    return datetime.fromtimestamp(due, tz=last.tzinfo)


# --- pause, resume, abort (pure; a UserError says why the change does not apply) ----------------------------


def paused(rollout: Rollout, now: datetime, *, actor: str, reason: str) -> Rollout:
    if rollout.status != RolloutStatus.RUNNING:
        raise UsageError(f"Rollout #{rollout.id} is {rollout.status.value}, not running; nothing to pause.")
    changed = replace(rollout, status=RolloutStatus.PAUSED, paused_at=now, status_reason=f"{reason} ({mention(actor)})")
    return changed.noted(now, f"paused by {mention(actor)}: {reason}")


def resumed(rollout: Rollout, now: datetime, *, actor: str) -> Rollout:
    """The clock restarts: later offsets, and the waiting prompt's reminder times, shift by the pause. The next
    KPI check comes at most ``check_every`` after the resume (at the rollout's phase, see ``next_gate_check``)."""
    if rollout.status != RolloutStatus.PAUSED or rollout.paused_at is None:
        raise UsageError(f"Rollout #{rollout.id} is {rollout.status.value}, not paused; nothing to resume.")
    pause = max(now - rollout.paused_at, timedelta(0))  # the clock stepped back: no step moves earlier
    changed = replace(
        rollout,
        status=RolloutStatus.RUNNING,
        paused_at=None,
        paused_total=rollout.paused_total + pause,
        status_reason=None,
        gates_checked_at=now,
    )
    state = changed.step
    if state is not None and state.status == StepStatus.PROMPTED and state.prompted_at is not None:
        changed = changed.with_step(changed.current, replace(state, prompted_at=state.prompted_at + pause))
    return changed.noted(now, f"resumed by <@{actor}>; later steps shift by the time paused")


def aborted(rollout: Rollout, now: datetime, *, actor: str, reason: str) -> Rollout:
    if not rollout.status.active:
        raise UsageError(f"Rollout #{rollout.id} is already {rollout.status.value}.")
    changed = replace(rollout, status=RolloutStatus.ABORTED, status_reason=f"{reason} (<@{actor}>)", finished_at=now)
    return changed.noted(now, f"aborted by <@{actor}>: {reason}; enabled tenants stay enabled")
