"""The throttle's pure controller, driven by a fake clock (seconds as plain numbers) and made-up readings."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from commands.backfill.config import EngineConfig
from commands.backfill.throttle import (
    DECREASE,
    PROBE_AFTER,
    Limits,
    Readings,
    Settings,
    ThrottleState,
    decide,
    describe,
    initial,
    ladder,
    measuring_done,
    next_baseline,
    reference_ms,
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
RUNGS = ladder(LIMITS)
FULL = Settings(workers=4, pause_ms=0, batch_ms=40)


def canary(ratio: float, **more: float | int | None) -> Readings:
    return Readings(canary_p95_ms=2.0 * ratio, baseline_p95_ms=2.0, **more)  # type: ignore[arg-type]


def at(rung: int, now: float = 0.0) -> ThrottleState:
    return ThrottleState(RUNGS[rung], "steady", "steady", changed_at=now, measured_at=now, rung=rung)


def speed(s: Settings) -> float:
    return s.workers * s.batch_ms / (s.batch_ms + s.pause_ms)


def test_the_ladder_runs_from_short_batches_at_the_longest_pause_to_every_worker_flat_out() -> None:
    assert RUNGS[0] == Settings(workers=1, pause_ms=400, batch_ms=10)
    assert RUNGS[1] == Settings(workers=1, pause_ms=400, batch_ms=20)
    assert RUNGS[-1] == FULL
    assert all(speed(a) < speed(b) for a, b in itertools.pairwise(RUNGS))
    one_worker = [s for s in RUNGS if s.workers == 1 and s.batch_ms == 40]
    busy = [round(100 * speed(s)) for s in one_worker]
    assert busy[-1] == 100 and all(b - a <= 10 for a, b in itertools.pairwise(busy))  # small steps


def test_over_the_set_point_twice_running_it_steps_down_multiplicatively_to_the_slowest_rung_and_says_why() -> None:
    clock, state, seen = 0.0, at(len(RUNGS) - 1), []
    for _ in range(24):
        clock += 1.0
        state, reason = decide(state, canary(1.21), clock, LIMITS)  # 1.21× is over 0.9 × the 1.3× budget
        state = replace(state, measured_at=clock)  # a fresh baseline each time: no re-measuring here
        seen.append((state.mode, state.rung))
    top = len(RUNGS) - 1
    assert seen[0] == ("watching", top) and seen[1] == ("slowed", int(top * DECREASE))  # a second window agreed
    assert seen[2] == ("watching", int(top * DECREASE)) and seen[3] == ("slowed", int(int(top * DECREASE) * DECREASE))
    assert seen[-1] == ("held", 0) and reason.startswith("slowest setting: canary p95 1.21×")
    assert "watching: canary p95 1.21× baseline (budget 1.3×); judging a fresh window" in _reason_after(1.21)


def _reason_after(ratio: float) -> str:
    return decide(at(len(RUNGS) - 1), canary(ratio), 1.0, LIMITS)[1]


def test_far_over_the_budget_it_steps_down_at_once() -> None:
    top = len(RUNGS) - 1
    slowed, reason = decide(at(top), canary(2.1), 1.0, LIMITS)  # over 1.5 × the budget
    assert slowed.rung == int(top * DECREASE) and reason == "slowed: canary p95 2.10× baseline (budget 1.3×)"
    assert describe(slowed) == reason + " · 2 workers, pause 17 ms, batches ~40 ms (each busy 70 %)"


def test_one_noisy_window_alone_does_not_slow_it_down() -> None:
    watching, _ = decide(at(12), canary(1.25), 1.0, LIMITS)
    assert watching.mode == "watching" and watching.rung == 12 and watching.changed_at == 1.0
    assert decide(watching, canary(3.0), 1.5, LIMITS)[0] is watching  # the fresh window needs settle_s of beats
    calm, reason = decide(watching, canary(1.1), 2.0, LIMITS)
    assert calm.rung == 12 and calm.mode == "steady" and reason.startswith("steady: canary p95 1.10×")


def test_after_a_change_it_holds_until_the_window_shows_the_effect() -> None:
    state = at(len(RUNGS) - 1, now=10.0)
    held, reason = decide(state, canary(3.0), 10.5, LIMITS)
    assert held is state and reason == "steady"
    slowed, _ = decide(state, canary(3.0), 11.0, LIMITS)
    assert slowed.rung < state.rung and slowed.changed_at == 11.0


def test_room_under_the_budget_climbs_one_rung_at_a_time_to_full_speed_then_stays_steady() -> None:
    clock, state, seen = 0.0, at(0), []
    for _ in range(len(RUNGS) + 3):
        clock += 1.0
        state, reason = decide(state, canary(0.9), clock, LIMITS)
        seen.append(state.rung)
    assert seen[: len(RUNGS) - 1] == list(range(1, len(RUNGS)))  # additive increase
    assert state.settings == FULL and state.mode == "steady"
    assert reason == "steady: canary p95 0.90× baseline, budget 1.3×"


def test_pressure_right_after_a_climb_steps_back_at_once_and_that_rung_waits_for_a_long_calm() -> None:
    climbed, _ = decide(at(12), canary(0.9), 1.0, LIMITS)
    assert (climbed.mode, climbed.rung) == ("speeding up", 13)
    back, reason = decide(climbed, canary(1.25), 2.0, LIMITS)  # not clearly over: no second window needed
    assert (back.mode, back.rung, back.ceiling) == ("slowed", 12, 13)
    assert reason == "slowed: canary p95 1.25× baseline (budget 1.3×); back to the last rung"
    clock, state = 2.0, back
    while clock < 2.0 + PROBE_AFTER * LIMITS.settle_s - 1:
        clock += 1.0
        state, reason = decide(state, canary(0.9), clock, LIMITS)
        assert state.rung == 12  # room, but that rung hurt a moment ago
    assert reason.startswith("steady: canary p95 0.90× baseline, budget 1.3×; the next rung needed a slow-down")
    state, reason = decide(state, canary(0.9), 2.0 + PROBE_AFTER * LIMITS.settle_s, LIMITS)
    assert (state.mode, state.rung) == ("speeding up", 13)  # tried again


def test_after_a_slow_down_it_climbs_back_only_to_just_under_the_rung_that_needed_it() -> None:
    top = len(RUNGS) - 1
    slowed, _ = decide(at(top), canary(2.1), 1.0, LIMITS)
    clock, state, limits = 1.0, slowed, replace(LIMITS, settle_s=0.5)
    while clock + 0.5 < 1.0 + PROBE_AFTER * limits.settle_s:
        clock += 0.5
        state, _ = decide(state, canary(0.9), clock, limits)
    assert state.rung == top - 1 and state.ceiling == top  # climbed back quickly, but not to the top yet


def test_between_room_and_the_set_point_nothing_changes() -> None:
    state = at(12)
    after, reason = decide(state, canary(1.1), 5.0, LIMITS)  # over 0.8 × 1.3, under 0.9 × 1.3
    assert after.settings == state.settings and reason.startswith("steady: canary p95 1.10×")


def test_replica_lag_and_active_sessions_over_their_limits_slow_down_too() -> None:
    top = len(RUNGS) - 1
    lagging, reason = decide(at(top), canary(1.0, lag_s=7.25), 5.0, LIMITS)  # hard limits: at once
    assert lagging.rung < top and reason == "slowed: replica lag 7.2 s over 5 s"
    busy, reason = decide(at(top), canary(1.0, sessions=31), 5.0, LIMITS)
    assert busy.rung < top and reason == "slowed: 31 active sessions over 30"
    unwatched, _ = decide(at(top), canary(1.0, lag_s=99.0), 5.0, replace(LIMITS, lag_limit_s=None))
    assert unwatched.settings == FULL


def test_without_canary_readings_it_keeps_its_settings() -> None:
    state = at(7)
    after, _ = decide(state, Readings(canary_p95_ms=None, baseline_p95_ms=2.0), 5.0, LIMITS)
    assert after.settings == state.settings


def test_it_stops_the_workers_to_remeasure_the_baseline_then_goes_back() -> None:
    limits = replace(LIMITS, rebaseline_every_s=20.0, remeasure_s=1.0)
    state = at(20)
    state, _ = decide(state, canary(1.1), 19.0, limits)
    assert state.mode == "steady"
    state, reason = decide(state, canary(1.1), 20.0, limits)
    assert state.mode == "measuring" and state.settings.workers == 0 and "measuring the canary's baseline" in reason
    assert not measuring_done(state, 20.5, limits)
    assert decide(state, canary(5.0), 20.5, limits)[0] is state  # still measuring: readings do not matter
    assert measuring_done(state, 21.0, limits)
    back, reason = decide(state, Readings(canary_p95_ms=3.0, baseline_p95_ms=3.0), 21.0, limits)
    assert back.settings == RUNGS[20] and back.rung == 20 and back.measured_at == 21.0
    assert reason == "baseline re-measured: canary p95 3.0 ms"


def test_over_budget_it_slows_down_first_and_remeasures_only_when_even_the_slowest_rung_is_too_much() -> None:
    stale = ThrottleState(RUNGS[10], "steady", "steady", changed_at=10.0, measured_at=0.0, rung=10)
    slowed, reason = decide(stale, canary(2.0), 11.0, LIMITS)  # an old baseline is no excuse to wait
    assert slowed.rung == 7 and reason.startswith("slowed: canary p95 2.00×")
    bottom = ThrottleState(RUNGS[0], "held", "held", changed_at=10.0, measured_at=0.0, rung=0)
    measuring, reason = decide(bottom, canary(2.0), 11.0, LIMITS)
    assert measuring.mode == "measuring" and reason.startswith("canary p95 2.00× baseline (budget 1.3×): measuring")
    fresh = replace(bottom, measured_at=10.0)
    assert decide(fresh, canary(2.0), 11.0, LIMITS)[0].mode == "held"  # a baseline this fresh: just hold


def test_a_remeasured_baseline_rises_slowly_and_boundedly_but_falls_at_once() -> None:
    assert next_baseline(first_ms=2.0, last_ms=2.0, measured_ms=9.0) == 2.4  # after-effects: at most +20 %
    assert next_baseline(first_ms=2.0, last_ms=2.8, measured_ms=9.0) == 3.0  # never over 1.5 × the first
    assert next_baseline(first_ms=2.0, last_ms=2.4, measured_ms=1.5) == 1.5  # a quieter database counts at once
    assert next_baseline(first_ms=2.0, last_ms=2.4, measured_ms=None) == 2.4  # too few beats: keep it


def test_it_starts_cautiously_and_never_pauses_less_than_configured() -> None:
    limits = Limits.of(EngineConfig(target_batch_ms=40, pause_between_ms=150), workers=3)
    state = initial(limits, now=0.0)
    assert state.settings.workers == 1 and speed(state.settings) <= 0.5
    assert all(s.pause_ms >= 150 for s in ladder(limits))
    for second in range(1, 60):
        state, _ = decide(state, canary(0.5), float(second), limits)
    assert state.settings == Settings(workers=3, pause_ms=150, batch_ms=40)


def test_against_a_database_that_slows_with_speed_it_climbs_then_backs_off_when_the_database_gets_busier() -> None:
    """A made-up database: the canary's ratio grows with how hard the backfill works (0.8 + 0.4 × speed); after
    20 s the application's own traffic adds 0.2 to it."""
    limits = replace(LIMITS, max_workers=2)
    state, clock, seen = initial(limits, now=0.0), 0.0, []
    while clock < 60:
        clock += 0.2
        ratio = 0.8 + 0.4 * speed(state.settings) + (0.2 if clock > 20 else 0.0)
        state, _ = decide(state, canary(ratio), clock, limits)
        seen.append((clock, ratio, speed(state.settings)))
    quiet = [s for t, _, s in seen if 10 <= t <= 20]
    assert min(quiet) > 0.5  # it climbed from its cautious start while there was room
    busy = [(r, s) for t, r, s in seen if t >= 23]  # a few seconds to notice and step down
    assert max(r for r, _ in busy) <= 1.3 * 0.9  # held under the set-point
    assert min(s for _, s in busy) > 0.2  # and still working


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
        assert s == ladder(limits)[state.rung]
        assert 1 <= s.workers <= limits.max_workers
        assert limits.min_pause_ms <= s.pause_ms <= limits.max_pause_ms
        assert limits.min_batch_ms <= s.batch_ms <= limits.max_batch_ms


def test_beats_no_batch_overlapped_excuse_a_busier_database_but_only_up_to_a_ceiling() -> None:
    calm = Readings(canary_p95_ms=3.0, baseline_p95_ms=2.0, quiet_p95_ms=1.5)
    assert reference_ms(calm) == 2.0  # quieter than the baseline: the baseline still counts
    busier = Readings(canary_p95_ms=2.6, baseline_p95_ms=2.0, quiet_p95_ms=2.3)
    assert reference_ms(busier) == 2.3
    state = at(12)
    same, reason = decide(state, busier, 5.0, LIMITS)  # 2.6 / 2.3: the backfill adds 13 %
    assert same.rung == 12 and reason.startswith("steady: canary p95 1.13×")
    swamped = Readings(canary_p95_ms=9.0, baseline_p95_ms=2.0, quiet_p95_ms=8.0)
    assert reference_ms(swamped) == 2.4  # at most 1.2 × the baseline, however busy
    assert decide(state, swamped, 5.0, LIMITS)[0].rung < 12  # 3× over: slowed at once
    assert reference_ms(Readings(canary_p95_ms=3.0, baseline_p95_ms=2.0)) == 2.0  # no quiet beats: the baseline
