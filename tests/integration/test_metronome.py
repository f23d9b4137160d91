"""The real APScheduler drives jobs with the (fake) clock's ``now``; no waiting for real intervals."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from commands.adapters.state_pg import PgRequestLedger
from scheduler.jobs import purge_request_ledger
from scheduler.runner import Metronome
from tests.conftest import Databases
from tests.fakes import FakeClock


def test_ticks_run_jobs_with_now_and_survive_a_failing_job(dbs: Databases) -> None:
    clock = FakeClock()
    seen: list[datetime] = []
    purged: list[int] = []
    ticked = threading.Semaphore(0)
    with ConnectionPool(dbs.state_url, min_size=1, max_size=2) as pool:
        ledger = PgRequestLedger(pool)
        ledger.first_time(key="old", kind="command", at=clock.now())
        purge = purge_request_ledger(ledger)

        def broken(now: datetime) -> Any:
            raise RuntimeError("boom")

        def record(now: datetime) -> None:
            seen.append(now)
            purged.append(purge(now))
            ticked.release()

        metronome = Metronome(clock=clock, tick_s=3600, jobs={"broken": broken, "record": record})
        metronome.start()  # first tick runs at once
        try:
            assert ticked.acquire(timeout=10)
            clock.advance(timedelta(days=2))
            metronome.wake_now()
            assert ticked.acquire(timeout=10)
        finally:
            metronome.shutdown()
    assert seen[1] - seen[0] == timedelta(days=2)
    assert purged == [0, 1]  # the day-old retry record went at the second tick


def test_an_on_error_that_answers_true_ends_the_tick_early() -> None:
    """The bot answers True for a database outage: the jobs after the failing one would only wait for it."""
    ran: list[str] = []
    reported: list[str] = []

    def down(now: datetime) -> None:
        raise RuntimeError("database unavailable")

    def after(now: datetime) -> None:
        ran.append("after")

    def report(name: str, _exc: BaseException) -> bool:
        reported.append(name)
        return True

    clock = FakeClock()
    metronome = Metronome(
        clock=clock,
        tick_s=3600,
        jobs={"down": down, "after": after},
        on_error=report,
    )
    metronome.tick()
    assert (reported, ran, metronome.ticks) == (["down"], [], 1)
    quiet = Metronome(clock=clock, tick_s=3600, jobs={"down": down, "after": after}, on_error=lambda _n, _e: False)
    quiet.tick()
    assert ran == ["after"]


def test_after_a_backward_step_of_the_wall_clock_the_watchdog_wakes_the_tick_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A backward step makes APScheduler plan the next tick too late; the monotonic clock shows the stall."""
    ticked = threading.Semaphore(0)
    monotonic = [1000.0]
    metronome = Metronome(
        clock=FakeClock(), tick_s=3600, jobs={"tick": lambda _now: ticked.release()}, monotonic=lambda: monotonic[0]
    )
    metronome.start()
    try:
        assert ticked.acquire(timeout=10)
        monotonic[0] += 60  # within two intervals: nothing to do
        assert not metronome.check_stalled()
        monotonic[0] += 2 * 3600  # two hours without a tick by the monotonic clock, none by the wall clock
        with caplog.at_level(logging.WARNING, logger="scheduler.runner"):
            assert metronome.check_stalled()
        assert ticked.acquire(timeout=10)  # ticking again
        assert not metronome.check_stalled()  # one wake-up per stall
    finally:
        metronome.shutdown()
    [warning] = [r.getMessage() for r in caplog.records if "stepped back" in r.getMessage()]
    assert warning.startswith("no tick for 7260 s: the wall clock stepped back by about 72")
