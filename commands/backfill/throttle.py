"""The latency-targeted throttle: a pure decision, ``decide(state, readings, now) -> (state, reason)``.

Before a run zdm measures a *canary* (a tiny commit on its own connection in the target database) with nothing of
the backfill running; that is the baseline. During the run the canary keeps beating, and this controller keeps its
rolling p95 within ``latency_budget`` × the baseline and replica lag / active sessions under their limits:

- over budget → slow down *multiplicatively*: first fewer workers (halved), then a longer pause between batches
  (doubled), then shorter batches (halved);
- comfortably under budget → speed up in the reverse order: half the pause (none below 10 ms), then batches
  longer by a quarter, then one more worker;
- after any change it holds for ``settle_s`` so the rolling window shows the effect before the next judgement;
- every ``rebaseline_every_s``, and before slowing down on a baseline older than 3 × ``settle_s``, it stops the
  workers for ``remeasure_s`` and measures the baseline again, so a database that got busier (or quieter) for
  reasons of its own is not blamed on the backfill (or hidden by it).

``now`` is a number of seconds on any monotonic clock; nothing here reads the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from commands.backfill.config import EngineConfig

ROOM = 0.85  # speed up only while the canary is under this share of the budget (no see-sawing on the line)
PAUSE_STEP_MS = 10  # a pause this short is dropped altogether when speeding up
FIRST_PAUSE_MS = 20  # the first pause a slow-down introduces


@dataclass(frozen=True)
class Settings:
    """What the workers obey: how many of them run, the pause after each batch, the batch duration aimed at."""

    workers: int
    pause_ms: int
    batch_ms: int


@dataclass(frozen=True)
class ThrottleState:
    settings: Settings
    mode: str = "starting"  # starting · steady · slowed · speeding up · held (a hard limit) · measuring
    reason: str = "measuring the canary's baseline"
    changed_at: float = float("-inf")
    measured_at: float = 0.0  # when the baseline was last measured
    resume: Settings | None = None  # while measuring: the settings to go back to


@dataclass(frozen=True)
class Readings:
    """One look at the database. ``None``: not measured (not configured, or not enough canary beats yet)."""

    canary_p95_ms: float | None
    baseline_p95_ms: float
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


def initial(limits: Limits, now: float) -> ThrottleState:
    """Cautious start (the baseline just measured): one worker, busy half of the time; the controller speeds up from
    there if there is room."""
    pause = max(limits.min_pause_ms, limits.max_batch_ms)
    settings = Settings(workers=1, pause_ms=pause, batch_ms=limits.max_batch_ms)
    return ThrottleState(settings, reason="starting cautiously", changed_at=now, measured_at=now)


def measuring_done(state: ThrottleState, now: float, limits: Limits) -> bool:
    """The workers have stood still long enough: the canary's beats of the last ``remeasure_s`` are a baseline."""
    return state.mode == "measuring" and now - state.changed_at >= limits.remeasure_s


def decide(state: ThrottleState, readings: Readings, now: float, limits: Limits) -> tuple[ThrottleState, str]:
    """The next settings and, in words, why (for the progress card). While measuring, the caller passes the fresh
    baseline in ``readings`` once ``measuring_done``."""
    if state.mode == "measuring":
        if not measuring_done(state, now, limits):
            return state, state.reason
        assert state.resume is not None
        reason = f"baseline re-measured: canary p95 {readings.baseline_p95_ms:.1f} ms"
        return ThrottleState(state.resume, "steady", reason, now, measured_at=now), reason
    pressure = _pressure(readings, limits)
    if now - state.changed_at < limits.settle_s:
        return state, state.reason  # let the last change show in the rolling window first
    every = limits.rebaseline_every_s
    stale = now - state.measured_at >= 3 * limits.settle_s
    if (every is not None and now - state.measured_at >= every) or (
        pressure and pressure.startswith("canary") and stale
    ):
        # over budget on an old baseline: first check that the database is not simply busier without us
        why = f"{pressure}: " if pressure else ""
        reason = f"{why}measuring the canary's baseline again (workers stopped for {limits.remeasure_s:g} s)"
        still = replace(state.settings, workers=0)
        return ThrottleState(still, "measuring", reason, now, state.measured_at, resume=state.settings), reason
    if pressure is not None:
        slower = _slower(state.settings, limits)
        if slower == state.settings:
            held = replace(state, mode="held", reason=f"slowest setting: {pressure}")
            return held, held.reason
        reason = f"slowed: {pressure}"
        return replace(state, settings=slower, mode="slowed", reason=reason, changed_at=now), reason
    ratio = _ratio(readings)
    if ratio is None:
        return state, state.reason
    if ratio < limits.latency_budget * ROOM:
        faster = _faster(state.settings, limits)
        if faster != state.settings:
            reason = f"speeding up: canary p95 {ratio:.1f}× baseline, budget {limits.latency_budget:g}×"
            return replace(state, settings=faster, mode="speeding up", reason=reason, changed_at=now), reason
    reason = f"steady: canary p95 {ratio:.1f}× baseline, budget {limits.latency_budget:g}×"
    return replace(state, mode="steady", reason=reason), reason


def _ratio(readings: Readings) -> float | None:
    if readings.canary_p95_ms is None or readings.baseline_p95_ms <= 0:
        return None
    return readings.canary_p95_ms / readings.baseline_p95_ms


def _pressure(readings: Readings, limits: Limits) -> str | None:
    """Why the database needs relief now, or None."""
    if limits.lag_limit_s is not None and readings.lag_s is not None and readings.lag_s > limits.lag_limit_s:
        return f"replica lag {readings.lag_s:.1f} s over {limits.lag_limit_s:g} s"
    sessions, most = readings.sessions, limits.sessions_limit
    if most is not None and sessions is not None and sessions > most:
        return f"{readings.sessions} active sessions over {limits.sessions_limit}"
    ratio = _ratio(readings)
    if ratio is not None and ratio > limits.latency_budget:
        return f"canary p95 {ratio:.1f}× baseline (budget {limits.latency_budget:g}×)"
    return None


def _slower(s: Settings, limits: Limits) -> Settings:
    if s.workers > 1:
        return replace(s, workers=max(1, s.workers // 2))
    if s.pause_ms < limits.max_pause_ms:
        return replace(s, pause_ms=min(limits.max_pause_ms, max(FIRST_PAUSE_MS, s.pause_ms * 2)))
    if s.batch_ms > limits.min_batch_ms:
        return replace(s, batch_ms=max(limits.min_batch_ms, s.batch_ms // 2))
    return s


def _faster(s: Settings, limits: Limits) -> Settings:
    if s.pause_ms > limits.min_pause_ms:
        shorter = 0 if s.pause_ms <= PAUSE_STEP_MS else s.pause_ms // 2
        return replace(s, pause_ms=max(limits.min_pause_ms, shorter))
    if s.batch_ms < limits.max_batch_ms:
        return replace(s, batch_ms=min(limits.max_batch_ms, s.batch_ms + max(5, s.batch_ms // 4)))
    if s.workers < limits.max_workers:
        return replace(s, workers=s.workers + 1)
    return s


def window_s(state: ThrottleState, now: float, limits: Limits) -> float:
    """The canary window to judge: the beats since the last change (at least ``settle_s``, at most 3× that)."""
    return min(max(now - state.changed_at, limits.settle_s), 3 * limits.settle_s)


def describe(state: ThrottleState) -> str:
    """The card's throttle line."""
    s = state.settings
    if state.mode == "measuring":
        return state.reason
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''}"
    return f"{state.reason} · {workers}, pause {s.pause_ms} ms, batches ~{s.batch_ms} ms"
