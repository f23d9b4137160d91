"""The metronome: the only module that imports APScheduler.

One periodic tick calls every registered job with ``now``; jobs decide what is due themselves (they take ``now``
as an argument, so tests drive them with a fake clock). Postgres holds the state, not APScheduler's job store, so
a restart or a missed tick loses nothing: the next tick catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from commands.ports import Clock

log = logging.getLogger(__name__)
TickJob = Callable[[datetime], object]
TICK_ID = "zdm-tick"


class Metronome:
    def __init__(self, *, clock: Clock, tick_s: float, jobs: dict[str, TickJob]) -> None:
        self._clock = clock
        self._jobs = dict(jobs)
        self._tick_s = tick_s
        self._scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=1)})
        self.ticks = 0

    def start(self) -> None:
        self._scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self._tick_s, timezone=UTC),
            id=TICK_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def wake_now(self) -> None:
        """Run the tick as soon as possible instead of waiting for the interval."""
        self._scheduler.modify_job(TICK_ID, next_run_time=datetime.now(UTC))

    def shutdown(self, *, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def tick(self) -> None:
        now = self._clock.now()
        for name, job in self._jobs.items():
            try:
                job(now)
            except Exception:  # one failing job must not stop the others or the metronome
                log.exception("scheduled job %s failed", name)
        self.ticks += 1
