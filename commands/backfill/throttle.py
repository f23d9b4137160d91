"""The latency-targeted throttle: a pure decision, ``decide(state, readings, now) -> (state, reason)``.

Before a run zdm measures a *canary* (a tiny commit on its own connection in the target database) with nothing of
the backfill running; that is the baseline. During the run the canary keeps beating, and this controller keeps its
rolling p95 within ``latency_budget`` × the baseline and replica lag / active sessions under their limits.

The controller climbs and descends a *speed ladder* (``ladder``): from the slowest setting (one worker, short
batches, the longest pause) through one worker busy 5 %, 10 %, … 100 % of the time, to every worker flat out.

- it aims *under* the budget: above ``SLOW_AT`` × the budget (1.17× for the default 1.3×) it steps down
  multiplicatively (to ``DECREASE`` of its rung), since a p95 over the whole run must end under the budget — when
  a second window (``settle_s`` of fresh beats) agrees, or at once when the canary is ``CLEARLY_OVER`` the budget
  or a replica lag / session limit is passed (one noisy window of a busy database must not halve the speed);
- well under it (below ``ROOM`` × the budget) it climbs one rung at a time (additive increase), but not back to
  the rung that last needed a slow-down (its *ceiling*) until ``PROBE_AFTER`` × ``settle_s`` of calm have passed:
  every try of a rung that is too fast costs the live traffic a window over budget, and a p95 over the whole run
  counts every such window;
- pressure in the first window after a climb is blamed on that climb: it steps back one rung at once, without a
  second window;
- the canary is judged against the baseline or, when the same window's beats that no batch overlapped are slower
  (the database got busier for reasons of its own), against those, up to ``QUIET_CEILING`` × the baseline
  (``reference_ms``);
- after any change it holds for ``settle_s`` so the rolling window shows the effect before the next judgement;
- every ``rebaseline_every_s``, and when even the slowest rung stays over budget, it stops the workers for
  ``remeasure_s`` and measures the baseline again (a database busier for reasons of its own is not blamed on the
  backfill). A re-measured baseline may rise by at most ``BASELINE_STEP`` at a time and to at most
  ``BASELINE_CEILING`` × the one measured before the run (``next_baseline``): right after a stop, the backfill's own
  after-effects (WAL flushes, checkpoints, vacuum) still weigh on the canary and must not excuse the next stretch.

``now`` is a number of seconds on any monotonic clock; nothing here reads the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

from commands.backfill.config import EngineConfig

SLOW_AT = 0.9  # step down above this share of the budget: aim under the line, not on it
ROOM = 0.8  # climb only while the canary is under this share of the budget (no see-sawing on the line)
DECREASE = 0.7  # a step down keeps this share of the current rung
CLEARLY_OVER = 1.5  # this far over the budget it steps down at once; nearer, only if a second window agrees
BUSY_STEPS = 20  # one worker's busy share climbs in 5 % steps
BASELINE_STEP = 1.2  # a re-measured baseline rises at most this factor at a time …
BASELINE_CEILING = 1.5  # … and never above this factor of the baseline measured before the run
QUIET_CEILING = 1.2  # beats no batch overlapped excuse a database at most this much slower than the baseline
PROBE_AFTER = 12  # × settle_s: how long it stays under the rung that last needed a slow-down before trying it again


@dataclass(frozen=True)
class Settings:
    """What the workers obey: how many of them run, the pause after each batch, the batch duration aimed at."""

    workers: int
    pause_ms: int
    batch_ms: int


@dataclass(frozen=True)
class ThrottleState:
    settings: Settings
    mode: str = "starting"  # starting · steady · slowed · speeding up · watching · held (slowest) · measuring
    reason: str = "measuring the canary's baseline"
    changed_at: float = float("-inf")
    measured_at: float = 0.0  # when the baseline was last measured
    resume: Settings | None = None  # while measuring: the settings to go back to
    rung: int = 0  # where on ``ladder(limits)`` the settings are
    ceiling: int | None = None  # the rung that last needed a slow-down …
    ceiling_at: float = float("-inf")  # … and when


@dataclass(frozen=True)
class Readings:
    """One look at the database. ``None``: not measured (not configured, or not enough canary beats yet)."""

    canary_p95_ms: float | None
    baseline_p95_ms: float
    quiet_p95_ms: float | None = None  # the same window's beats during which no batch ran
    lag_s: float | None = None
    sessions: int | None = None


@dataclass(frozen=True)
class Limits:
    max_workers: int
    max_pause_ms: int
    min_pause_ms: int
    min_batch_ms: int
    max_batch_ms: int
    latency_budget: float
    lag_limit_s: float | None = None
    sessions_limit: int | None = None
    settle_s: float = 1.5
    rebaseline_every_s: float | None = None
    remeasure_s: float = 1.0

    @classmethod
    def of(cls, cfg: EngineConfig, *, workers: int) -> Limits:
        return cls(
            max_workers=workers,
            max_pause_ms=max(cfg.max_pause_ms, cfg.pause_between_ms),
            min_pause_ms=cfg.pause_between_ms,
            min_batch_ms=cfg.min_batch_ms,
            max_batch_ms=cfg.target_batch_ms,
            latency_budget=cfg.latency_budget,
            lag_limit_s=cfg.lag_limit_s if cfg.replicas else None,
            sessions_limit=cfg.active_sessions_limit,
            settle_s=cfg.settle_s,
            rebaseline_every_s=cfg.rebaseline_every_s or None,
            remeasure_s=cfg.remeasure_s,
        )


@cache
def ladder(limits: Limits) -> tuple[Settings, ...]:
    """Every setting the controller uses, slowest first, each faster than the one before: batches shortening
    to ``min_batch_ms`` at the longest pause, then one worker busy 5 %, 10 % … of the time, then more workers."""
    batch, longest = limits.max_batch_ms, limits.max_pause_ms
    rungs: list[Settings] = []
    short = limits.min_batch_ms
    while short < batch:
        rungs.append(Settings(workers=1, pause_ms=longest, batch_ms=short))
        short *= 2
    for workers in range(1, limits.max_workers + 1):
        steps = range(1, BUSY_STEPS + 1) if workers == 1 else range(BUSY_STEPS // 2 + 2, BUSY_STEPS + 1, 2)
        for step in steps:  # busy share of each worker: batch / (batch + pause)
            pause = round(batch * (BUSY_STEPS - step) / step)
            rungs.append(Settings(workers, min(longest, max(limits.min_pause_ms, pause)), batch))
    unique: list[Settings] = []
    for rung in rungs:
        if not unique or _speed(rung) > _speed(unique[-1]):
            unique.append(rung)
    return tuple(unique)


def _speed(s: Settings) -> float:
    return s.workers * s.batch_ms / (s.batch_ms + s.pause_ms)


def initial(limits: Limits, now: float) -> ThrottleState:
    """Cautious start (the baseline just measured): one worker, busy half of the time; the controller speeds up from
    there if there is room."""
    rungs = ladder(limits)
    rung = max((i for i, s in enumerate(rungs) if s.workers == 1 and _speed(s) <= 0.5), default=0)
    return ThrottleState(rungs[rung], reason="starting cautiously", changed_at=now, measured_at=now, rung=rung)


def measuring_done(state: ThrottleState, now: float, limits: Limits) -> bool:
    """The workers have stood still long enough: the canary's beats of the last ``remeasure_s`` are a baseline."""
    return state.mode == "measuring" and now - state.changed_at >= limits.remeasure_s


def next_baseline(*, first_ms: float, last_ms: float, measured_ms: float | None) -> float:
    """The baseline after a re-measure: the fresh figure, but at most ``BASELINE_STEP`` × the last one and
    ``BASELINE_CEILING`` × the first (the backfill's after-effects must not excuse it); a quieter database counts
    at once."""
    if measured_ms is None:
        return last_ms
    return min(measured_ms, last_ms * BASELINE_STEP, first_ms * BASELINE_CEILING)


def decide(state: ThrottleState, readings: Readings, now: float, limits: Limits) -> tuple[ThrottleState, str]:
    """The next settings and, in words, why (for the progress card). While measuring, the caller passes the fresh
    baseline in ``readings`` once ``measuring_done``."""
    if state.mode == "measuring":
        if not measuring_done(state, now, limits):
            return state, state.reason
        assert state.resume is not None
        reason = f"baseline re-measured: canary p95 {readings.baseline_p95_ms:.1f} ms"
        return replace(state, settings=state.resume, mode="steady", reason=reason, changed_at=now, measured_at=now,
                       resume=None), reason  # fmt: skip
    if now - state.changed_at < limits.settle_s:
        return state, state.reason  # let the last change show in the rolling window first
    pressure = _pressure(readings, limits)
    every = limits.rebaseline_every_s
    stuck = pressure is not None and state.rung == 0 and now - state.measured_at >= 3 * limits.settle_s
    if stuck or (every is not None and now - state.measured_at >= every):
        # the slowest rung is still over budget, or it is time: is the database simply busier without us?
        why = f"{pressure}: " if stuck else ""
        reason = f"{why}measuring the canary's baseline again (workers stopped for {limits.remeasure_s:g} s)"
        still = replace(state.settings, workers=0)
        return replace(state, settings=still, mode="measuring", reason=reason, changed_at=now,
                       resume=state.settings), reason  # fmt: skip
    rungs = ladder(limits)
    rung = min(state.rung, len(rungs) - 1)
    if pressure is not None:
        if rung == 0:
            held = replace(state, mode="held", reason=f"slowest setting: {pressure}")
            return held, held.reason
        hurt = replace(state, ceiling=rung, ceiling_at=now)
        if state.mode == "speeding up":  # the climb just made did it: back down one rung
            return _move(hurt, rungs, rung - 1, "slowed", f"slowed: {pressure}; back to the last rung", now)
        if state.mode != "watching" and not _sure(readings, limits):  # one noisy window is not enough
            reason = f"watching: {pressure}; judging a fresh window before slowing"
            return replace(state, mode="watching", reason=reason, changed_at=now), reason
        lower = min(rung - 1, math.floor(rung * DECREASE))
        return _move(hurt, rungs, lower, "slowed", f"slowed: {pressure}", now)
    ratio = _ratio(readings)
    if ratio is None:
        return state, state.reason
    budget = f"canary p95 {ratio:.2f}× baseline, budget {limits.latency_budget:g}×"
    if ratio < limits.latency_budget * ROOM and rung + 1 < len(rungs):
        wait = _probe_wait(state, rung + 1, now, limits)
        if wait <= 0:
            return _move(state, rungs, rung + 1, "speeding up", f"speeding up: {budget}", now)
        reason = f"steady: {budget}; the next rung needed a slow-down, trying it again in {wait:.0f} s"
        return replace(state, mode="steady", reason=reason), reason
    reason = f"steady: {budget}"
    return replace(state, mode="steady", reason=reason), reason


def _probe_wait(state: ThrottleState, rung: int, now: float, limits: Limits) -> float:
    """Seconds until ``rung`` may be tried: 0 below the ceiling, or once the ceiling is ``PROBE_AFTER`` settles
    old."""
    if state.ceiling is None or rung < state.ceiling:
        return 0.0
    return state.ceiling_at + PROBE_AFTER * limits.settle_s - now


def _move(
    state: ThrottleState, rungs: tuple[Settings, ...], rung: int, mode: str, reason: str, now: float
) -> tuple[ThrottleState, str]:
    return replace(state, settings=rungs[rung], rung=rung, mode=mode, reason=reason, changed_at=now), reason


def reference_ms(readings: Readings) -> float:
    """What the canary is judged against: the baseline or, when the beats no batch overlapped show the database
    slower right now (load from elsewhere), those — at most ``QUIET_CEILING`` × the baseline (beats between batches
    still carry some of their after-effects)."""
    base, quiet = readings.baseline_p95_ms, readings.quiet_p95_ms
    return base if quiet is None else min(max(base, quiet), base * QUIET_CEILING)


def _ratio(readings: Readings) -> float | None:
    if readings.canary_p95_ms is None or readings.baseline_p95_ms <= 0:
        return None
    return readings.canary_p95_ms / reference_ms(readings)


def _sure(readings: Readings, limits: Limits) -> bool:
    """Pressure that needs no second look: a hard limit, or the canary far over its budget."""
    ratio = _ratio(readings)
    clearly = ratio is not None and ratio > limits.latency_budget * CLEARLY_OVER
    return clearly or _pressure(replace(readings, canary_p95_ms=None), limits) is not None


def _pressure(readings: Readings, limits: Limits) -> str | None:
    """Why the database needs relief now, or None."""
    if limits.lag_limit_s is not None and readings.lag_s is not None and readings.lag_s > limits.lag_limit_s:
        return f"replica lag {readings.lag_s:.1f} s over {limits.lag_limit_s:g} s"
    sessions, most = readings.sessions, limits.sessions_limit
    if most is not None and sessions is not None and sessions > most:
        return f"{readings.sessions} active sessions over {limits.sessions_limit}"
    ratio = _ratio(readings)
    if ratio is not None and ratio > limits.latency_budget * SLOW_AT:
        return f"canary p95 {ratio:.2f}× baseline (budget {limits.latency_budget:g}×)"
    return None


def window_s(state: ThrottleState, now: float, limits: Limits) -> float:
    """The canary window to judge: the beats since the last change (at least ``settle_s``, at most 3× that)."""
    return min(max(now - state.changed_at, limits.settle_s), 3 * limits.settle_s)


def describe(state: ThrottleState) -> str:
    """The card's throttle line."""
    s = state.settings
    if state.mode == "measuring":
        return state.reason
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''}"
    busy = 100 * s.batch_ms / (s.batch_ms + s.pause_ms)
    shown = f"{busy:.0f}" if busy >= 1 else f"{busy:.1f}"
    return f"{state.reason} · {workers}, pause {s.pause_ms} ms, batches ~{s.batch_ms} ms (each busy {shown} %)"
