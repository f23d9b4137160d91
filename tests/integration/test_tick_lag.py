"""The metronome reports each scheduled tick's lag to its observer (what /metrics shows as tick lag)."""

from __future__ import annotations

import threading

from bot.metrics import Metrics
from scheduler.runner import Metronome
from tests.fakes import FakeClock


def test_each_scheduled_tick_reports_how_late_it_started() -> None:
    lags: list[float] = []
    seen = threading.Event()
    metrics = Metrics()

    def observe(lag_s: float) -> None:
        metrics.tick(lag_s)
        lags.append(lag_s)
        seen.set()

    metronome = Metronome(clock=FakeClock(), tick_s=60, jobs={"noop": lambda _now: None}, observe=observe)
    metronome.start()  # the first tick is due at once
    try:
        assert seen.wait(30), "no tick was observed"
    finally:
        metronome.shutdown()
    assert len(lags) == 1 and lags[0] >= 0 and metronome.ticks == 1
    assert metrics.registry.get_sample_value("zdm_scheduler_ticks_total") == 1.0
    assert (metrics.registry.get_sample_value("zdm_scheduler_last_tick_timestamp_seconds") or 0) > 0
