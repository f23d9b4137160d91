"""The throttle's pure controller, driven by a fake clock (seconds as plain numbers) and made-up readings."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from commands.backfill.config import EngineConfig
from commands.backfill.throttle import (
    Limits,
    Readings,
    Settings,
    ThrottleState,
    decide,
    describe,
    initial,
    measuring_done,
)

LIMITS = Limits(
    max_workers=4,
    max_pause_ms=400,
    min_pause_ms=0,
    min_batch_ms=10,
    max_batch_ms=40,
    latency_budget=1.3,
    lag_limit_s=5.0,
    sessions_limit=30,
    settle_s=1.0,
    rebaseline_every_s=None,
)
FULL = Settings(workers=4, pause_ms=0, batch_ms=40)


def canary(ratio: float, **more: float | int | None) -> Readings:
    return Readings(canary_p95_ms=2.0 * ratio, baseline_p95_ms=2.0, **more)  # type: ignore[arg-type]


def at(settings: Settings, now: float = 0.0) -> ThrottleState:
    return ThrottleState(settings, "steady", "steady", changed_at=now, measured_at=now)


def test_over_budget_slows_down_workers_first_then_pause_then_batch_length_and_says_why() -> None:
    clock, state, seen = 0.0, at(FULL), []
    for _ in range(12):
        clock += 1.0
        state, reason = decide(state, canary(2.1), clock, replace(LIMITS, settle_s=1.0))
        state = replace(state, measured_at=clock)  # a fresh baseline each time: no re-measuring here
        seen.append(state.settings)
    assert reason.startswith("slowed: canary p95 2.1× baseline") or reason.startswith("slowest setting")
    assert [s.workers for s in seen[:2]] == [2, 1]
    assert [s.pause_ms for s in seen[2:7]] == [20, 40, 80, 160, 320]
    assert seen[7].pause_ms == 400 and seen[7].batch_ms == 40  # the pause reaches its limit before batches shrink
    assert seen[8].batch_ms == 20 and seen[9].batch_ms == 10
    assert state.mode == "held" and state.settings == Settings(workers=1, pause_ms=400, batch_ms=10)
    assert "slowed: canary p95 2.1× baseline" in describe(replace(state, reason="slowed: canary p95 2.1× baseline"))


def test_after_a_change_it_holds_until_the_window_shows_the_effect() -> None:
    state = at(FULL, now=10.0)
    held, reason = decide(state, canary(3.0), 10.5, LIMITS)
    assert held is state and reason == "steady"
    slowed, _ = decide(state, canary(3.0), 11.0, LIMITS)
    assert slowed.settings.workers == 2 and slowed.changed_at == 11.0


def test_room_under_the_budget_speeds_up_in_reverse_order_then_stays_steady() -> None:
    clock = 0.0
    state = at(Settings(workers=1, pause_ms=160, batch_ms=10))
    steps = []
    for _ in range(16):
        clock += 1.0
        state, reason = decide(state, canary(0.9), clock, LIMITS)
        steps.append(state.settings)
    assert [s.pause_ms for s in steps[:5]] == [80, 40, 20, 10, 0]  # halved; 10 ms or less goes to none
    assert [s.batch_ms for s in steps[5:11]] == [15, 20, 25, 31, 38, 40]  # then a quarter longer each time
    assert [s.workers for s in steps[10:14]] == [1, 2, 3, 4]  # then one more worker at a time
    assert steps[-1] == FULL and state.mode == "steady"
    assert reason == "steady: canary p95 0.9× baseline, budget 1.3×"


def test_between_room_and_budget_nothing_changes() -> None:
    state = at(Settings(workers=2, pause_ms=20, batch_ms=40))
    after, reason = decide(state, canary(1.2), 5.0, LIMITS)
    assert after.settings == state.settings and reason.startswith("steady: canary p95 1.2×")


def test_replica_lag_and_active_sessions_over_their_limits_slow_down_too() -> None:
    lagging, reason = decide(at(FULL), canary(1.0, lag_s=7.25), 5.0, LIMITS)
    assert lagging.settings.workers == 2 and reason == "slowed: replica lag 7.2 s over 5 s"
    busy, reason = decide(at(FULL), canary(1.0, sessions=31), 5.0, LIMITS)
    assert busy.settings.workers == 2 and reason == "slowed: 31 active sessions over 30"
    unwatched, _ = decide(at(FULL), canary(1.0, lag_s=99.0), 5.0, replace(LIMITS, lag_limit_s=None))
    assert unwatched.settings == FULL


def test_without_canary_readings_it_keeps_its_settings() -> None:
    state = at(Settings(workers=1, pause_ms=40, batch_ms=40))
    after, _ = decide(state, Readings(canary_p95_ms=None, baseline_p95_ms=2.0), 5.0, LIMITS)
    assert after.settings == state.settings


def test_it_stops_the_workers_to_remeasure_the_baseline_then_goes_back() -> None:
    limits = replace(LIMITS, rebaseline_every_s=20.0, remeasure_s=1.0)
    state = at(Settings(workers=2, pause_ms=0, batch_ms=40))
    state, _ = decide(state, canary(1.2), 19.0, limits)
    assert state.mode == "steady"
    state, reason = decide(state, canary(1.2), 20.0, limits)
    assert state.mode == "measuring" and state.settings.workers == 0 and "measuring the canary's baseline" in reason
    assert not measuring_done(state, 20.5, limits)
    assert decide(state, canary(5.0), 20.5, limits)[0] is state  # still measuring: readings do not matter
    assert measuring_done(state, 21.0, limits)
    back, reason = decide(state, Readings(canary_p95_ms=3.0, baseline_p95_ms=3.0), 21.0, limits)
    assert back.settings == Settings(workers=2, pause_ms=0, batch_ms=40) and back.measured_at == 21.0
    assert reason == "baseline re-measured: canary p95 3.0 ms"


def test_over_budget_on_a_stale_baseline_remeasures_before_slowing() -> None:
    state = ThrottleState(FULL, "steady", "steady", changed_at=10.0, measured_at=0.0)
    measuring, reason = decide(state, canary(2.0), 11.0, LIMITS)  # baseline 11 s old > 3 × settle_s
    assert measuring.mode == "measuring" and reason.startswith("canary p95 2.0× baseline (budget 1.3×): measuring")
    back, _ = decide(measuring, canary(2.0), 12.0, LIMITS)
    slowed, reason = decide(back, canary(2.0), 13.0, LIMITS)  # still over budget on a fresh baseline: slow down
    assert slowed.settings.workers == 2 and reason.startswith("slowed: canary p95 2.0×")


def test_it_starts_cautiously_and_never_pauses_less_than_configured() -> None:
    limits = Limits.of(EngineConfig(target_batch_ms=40, pause_between_ms=150), workers=3)
    state = initial(limits, now=0.0)
    assert state.settings == Settings(workers=1, pause_ms=150, batch_ms=40)
    for second in range(1, 10):
        state, _ = decide(state, canary(0.5), float(second), limits)
    assert state.settings.pause_ms == 150 and state.settings.workers == 3


@given(st.lists(st.tuples(st.floats(0.1, 10.0), st.floats(0, 20), st.integers(0, 60)), min_size=1, max_size=60))
def test_settings_always_stay_within_their_limits(readings: list[tuple[float, float, int]]) -> None:
    limits = replace(LIMITS, rebaseline_every_s=7.0)
    state, clock = initial(limits, now=0.0), 0.0
    for ratio, lag, sessions in readings:
        clock += 0.7
        state, reason = decide(state, canary(ratio, lag_s=lag, sessions=sessions), clock, limits)
        s = state.settings
        assert reason
        if state.mode == "measuring":
            assert s.workers == 0
            continue
        assert 1 <= s.workers <= limits.max_workers
        assert limits.min_pause_ms <= s.pause_ms <= limits.max_pause_ms
        assert limits.min_batch_ms <= s.batch_ms <= limits.max_batch_ms
