"""The metronome: the only module that imports APScheduler.

One periodic tick calls every registered job with ``now``; jobs decide what is due themselves (they take ``now``
as an argument, so tests drive them with a fake clock). A job may return the ``datetime`` at which it next has
work; the metronome then also wakes at that moment instead of waiting for the next interval. Postgres holds the
state, not APScheduler's job store, so a restart or a missed tick loses nothing: the next tick catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from commands.ports import Clock

log = logging.getLogger(__name__)
TickJob = Callable[[datetime], object]
TickObserver = Callable[[float], None]  # called after each scheduled tick with how late it started, in seconds
TICK_ID = "zdm-tick"
WAKE_ID = "zdm-wake"
MIN_WAKE_S = 1.0  # a wake-up asked for "now" (or the past) is a retry, not a reason to spin


class Metronome:
    def __init__(
        self,
        *,
        clock: Clock,
        tick_s: float,
        jobs: dict[str, TickJob],
        time_scale: float = 1.0,
        on_error: Callable[[str, Exception], object] | None = None,
        observe: TickObserver | None = None,
    ) -> None:
        self._clock = clock
        self._on_error = on_error  # e.g. tell the release channel (folded, so a job failing every tick is one post)
        self._jobs = dict(jobs)
        self._tick_s = tick_s
        self._time_scale = time_scale  # clock seconds per real second (the demo's sped-up clock)
        self._scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=1)})
        self.ticks = 0
        self._observe = observe
        self._started: datetime | None = None
        self._scheduler.add_listener(self._ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def start(self) -> None:
        self._scheduler.add_job(
            self._scheduled_tick,
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

    def _scheduled_tick(self) -> None:
        self._started = datetime.now(UTC)
        self.tick()

    def _ran(self, event: JobExecutionEvent) -> None:
        """After a scheduled tick (same worker thread): report how late it started against its due time."""
        started, self._started = self._started, None
        if self._observe is None or started is None:
            return
        try:
            self._observe((started - event.scheduled_run_time).total_seconds())
        except Exception:
            log.exception("tick observer failed")

    def tick(self) -> datetime | None:
        """Run every job once with the clock's ``now``; return the earliest wake-up any job asked for."""
        now = self._clock.now()
        wakes: list[datetime] = []
        for name, job in self._jobs.items():
            try:
                result = job(now)
            except Exception as exc:  # one failing job must not stop the others or the metronome
                log.exception("scheduled job %s failed", name)
                if self._report(name, exc):
                    log.warning("skipping the rest of this tick after %s failed; the next tick tries again", name)
                    break
                continue
            if isinstance(result, datetime):
                wakes.append(result)
        self.ticks += 1
        wake = min(wakes) if wakes else None
        if wake is not None and self._scheduler.running:
            self._schedule_wake(wake, now)
        return wake

    def _report(self, name: str, exc: Exception) -> bool:
        """Hand the failure to ``on_error``; its truthy answer ends this tick (e.g. the database is down, so the
        other jobs would only wait for it in turn)."""
        if self._on_error is None:
            return False
        try:
            return bool(self._on_error(name, exc))
        except Exception:
            log.exception("could not report the failure of scheduled job %s", name)
            return False

    def _schedule_wake(self, wake: datetime, now: datetime) -> None:
        if self._time_scale <= 0:
            return  # a frozen clock only moves when someone advances it
        delay = max((wake - now).total_seconds() / self._time_scale, MIN_WAKE_S)
        if delay >= self._tick_s:
            return  # the regular tick comes first
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(
            self._scheduled_tick, DateTrigger(run_date=run_at, timezone=UTC), id=WAKE_ID, replace_existing=True
        )
