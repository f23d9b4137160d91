"""The metronome: the only module that imports APScheduler.

One periodic tick calls every registered job with ``now``; jobs decide what is due themselves (they take ``now``
as an argument, so tests drive them with a fake clock). A job may return the ``datetime`` at which it next has
work; the metronome then also wakes at that moment instead of waiting for the next interval. Postgres holds the
state, not APScheduler's job store, so a restart or a missed tick loses nothing: the next tick catches up.

APScheduler plans ticks on the wall clock, so a backward step of it would hold the next tick back for the size of
the step. A watchdog on the monotonic clock notices when no tick started for two intervals, logs the jump and
wakes the tick; a jump in either direction between two ticks is logged too.
"""

from __future__ import annotations

import logging
import threading
import time
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
JUMP_S = 5.0  # wall clock and monotonic clock disagreeing by more than this between two ticks is a jump


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
        monotonic: Callable[[], float] = time.monotonic,
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
        self._monotonic = monotonic
        self._last_tick: tuple[float, datetime] | None = None  # (monotonic, wall) when the last tick started
        self._ticking = False
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="metronome-watchdog", daemon=True)

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
        self._watchdog.start()

    def wake_now(self) -> None:
        """Run the tick as soon as possible instead of waiting for the interval."""
        self._scheduler.modify_job(TICK_ID, next_run_time=datetime.now(UTC))

    def shutdown(self, *, wait: bool = True) -> None:
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def _scheduled_tick(self) -> None:
        self._started = wall = datetime.now(UTC)
        mono = self._monotonic()
        if self._last_tick is not None:
            jump = (wall - self._last_tick[1]).total_seconds() - (mono - self._last_tick[0])
            if abs(jump) > JUMP_S:
                way = "forward" if jump > 0 else "back"
                log.warning("the wall clock jumped %s by about %.0f s since the previous tick", way, abs(jump))
        self._last_tick = (mono, wall)
        self._ticking = True
        try:
            self.tick()
        finally:
            self._ticking = False

    def check_stalled(self) -> bool:
        """Wake the tick when none started for two intervals by the monotonic clock (the wall clock stepped back,
        so APScheduler plans the next one too late); log how far it stepped. True when it woke the tick."""
        last = self._last_tick
        if last is None or self._ticking or not self._scheduler.running:
            return False
        quiet = self._monotonic() - last[0]
        if quiet <= 2 * self._tick_s:
            return False
        stepped_back = quiet - (datetime.now(UTC) - last[1]).total_seconds()
        log.warning("no tick for %.0f s: the wall clock stepped back by about %.0f s; ticking now", quiet, stepped_back)
        self._last_tick = (self._monotonic(), datetime.now(UTC))  # one wake-up per stall, not one per check
        self.wake_now()
        return True

    def _watch(self) -> None:
        while not self._stop.wait(max(self._tick_s, MIN_WAKE_S)):
            try:
                self.check_stalled()
            except Exception:
                log.exception("the metronome watchdog failed")

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
