"""The real APScheduler drives jobs with the (fake) clock's ``now``; no waiting for real intervals."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

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
