"""The latency-targeted throttle: a pure decision, ``decide(state, readings, now) -> (state, reason)``.

Before a run zdm measures a *canary* (a tiny commit on its own connection in the target database) with nothing of
the backfill running; that is the baseline. During the run the canary keeps beating, and this controller keeps its
rolling p95 within ``latency_budget`` × the baseline and replica lag / active sessions under their limits:

- over budget → slow down *multiplicatively*: first fewer workers (halved), then a longer pause between batches
  (doubled), then shorter batches (halved);
- comfortably under budget → speed up *additively*, in the reverse order: shorter pause, longer batches, one more
  worker;
- after any change it holds for ``settle_s`` so the rolling window shows the effect before the next judgement.

``now`` is a number of seconds on any monotonic clock; nothing here reads the time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from commands.backfill.config import EngineConfig

ROOM = 0.85  # speed up only while the canary is under this share of the budget (no see-sawing on the line)
PAUSE_STEP_MS = 10  # additive: pause shrinks by this much per step
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
    mode: str = "starting"  # starting · steady · slowed · speeding up · held (a hard limit)
    reason: str = "measuring the canary's baseline"
    changed_at: float = float("-inf")


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
    min_batch_ms: int
    max_batch_ms: int
    latency_budget: float
    lag_limit_s: float | None = None
    sessions_limit: int | None = None
    settle_s: float = 1.5

    @classmethod
    def of(cls, cfg: EngineConfig, *, workers: int) -> Limits:
        return cls(
            max_workers=workers,
            max_pause_ms=cfg.max_pause_ms,
            min_batch_ms=cfg.min_batch_ms,
            max_batch_ms=cfg.target_batch_ms,
            latency_budget=cfg.latency_budget,
            lag_limit_s=cfg.lag_limit_s if cfg.replicas else None,
            sessions_limit=cfg.active_sessions_limit,
            settle_s=cfg.settle_s,
        )


def initial(limits: Limits) -> ThrottleState:
    """Cautious start: one worker, short batches, a pause; the controller speeds up from there if there is room."""
    return ThrottleState(Settings(workers=1, pause_ms=FIRST_PAUSE_MS * 2, batch_ms=limits.min_batch_ms))


def decide(state: ThrottleState, readings: Readings, now: float, limits: Limits) -> tuple[ThrottleState, str]:
    """The next settings and, in words, why (for the progress card)."""
    pressure = _pressure(readings, limits)
    if now - state.changed_at < limits.settle_s:
        return state, state.reason  # let the last change show in the rolling window first
    if pressure is not None:
        slower = _slower(state.settings, limits)
        if slower == state.settings:
            held = replace(state, mode="held", reason=f"slowest setting: {pressure}")
            return held, held.reason
        reason = f"slowed: {pressure}"
        return ThrottleState(slower, "slowed", reason, now), reason
    ratio = _ratio(readings)
    if ratio is None:
        return state, state.reason
    if ratio < limits.latency_budget * ROOM:
        faster = _faster(state.settings, limits)
        if faster != state.settings:
            reason = f"speeding up: canary p95 {ratio:.1f}× baseline, budget {limits.latency_budget:g}×"
            return ThrottleState(faster, "speeding up", reason, now), reason
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
    if s.pause_ms > 0:
        return replace(s, pause_ms=max(0, s.pause_ms - max(PAUSE_STEP_MS, s.pause_ms // 4)))
    if s.batch_ms < limits.max_batch_ms:
        return replace(s, batch_ms=min(limits.max_batch_ms, s.batch_ms + max(5, s.batch_ms // 4)))
    if s.workers < limits.max_workers:
        return replace(s, workers=s.workers + 1)
    return s


def describe(state: ThrottleState) -> str:
    """The card's throttle line."""
    s = state.settings
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''}"
    return f"{state.reason} · {workers}, pause {s.pause_ms} ms, batches ~{s.batch_ms} ms"
