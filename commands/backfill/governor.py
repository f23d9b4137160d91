"""Applying the throttle during a run: the canary's baseline, the controller's look every poll, and the slots
that bound how many workers run a batch at once.

``commands.backfill.throttle`` decides; this module measures and hands the decision to the workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from commands.backfill.config import EngineConfig
from commands.backfill.ports import EnvironmentDatabase, Probe
from commands.backfill.throttle import (
    Limits,
    Readings,
    Settings,
    ThrottleState,
    decide,
    describe,
    initial,
    measuring_done,
    next_baseline,
    window_s,
)

log = logging.getLogger(__name__)
QUIET_BEATS = 20  # beats no batch overlapped, in the window, before they count as the database without us


class Slots:
    """At most ``limit`` workers hold a slot (run a batch and its pause) at once; the limit may change any time."""

    def __init__(self, limit: int) -> None:
        self._limit, self._held = limit, 0
        self._cond = threading.Condition()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self._held < self._limit, timeout):
                return False
            self._held += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._held -= 1
            self._cond.notify_all()


class Governor:
    """One run's pacing. ``max_speed``: every worker, the configured pause and batch target, no canary."""

    def __init__(
        self,
        cfg: EngineConfig,
        *,
        db: EnvironmentDatabase,
        run_id: int,
        workers: int,
        max_speed: bool,
        probe: Probe | None = None,
    ) -> None:
        self._cfg, self._db = cfg, db
        self.limits = Limits.of(cfg, workers=workers)
        self._running, self._running_lock = 0, threading.Lock()  # batches executing now
        every = cfg.canary_every_ms
        self._canary = None if max_speed else db.canary(run_id=run_id, every_ms=every, probe=probe, busy=self.busy)
        self.baseline_ms: float | None = None
        self.first_baseline_ms: float | None = None  # measured before the run; re-measures stay near it
        self.state: ThrottleState | None = None if max_speed else initial(self.limits, time.monotonic())
        full = Settings(workers=workers, pause_ms=cfg.pause_between_ms, batch_ms=cfg.target_batch_ms)
        self.settings = self.state.settings if self.state else full
        self.slots = Slots(self.settings.workers)

    def busy(self) -> bool:
        """A batch is executing now (the canary marks the beats that no batch overlapped)."""
        return self._running > 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Around each batch's statement and commit."""
        with self._running_lock:
            self._running += 1
        try:
            yield
        finally:
            with self._running_lock:
                self._running -= 1

    def start(self, halt: threading.Event) -> None:
        """Measure the canary's baseline with nothing of this run working yet (``baseline_s`` of beats)."""
        if self._canary is None:
            return
        self._canary.start()
        halt.wait(self._cfg.baseline_s)
        self.baseline_ms = self.first_baseline_ms = self._canary.p95_ms(self._cfg.baseline_s)
        if self.baseline_ms is None:
            why = self._canary.error or "too few beats"
            self.state = ThrottleState(self.settings, "held", f"no canary baseline ({why}); cautious settings held")
        else:
            self.state = initial(self.limits, time.monotonic())

    def look(self) -> None:
        """One controller step with fresh readings; the workers obey the new settings from their next batch."""
        if self.state is None or self.baseline_ms is None or self.first_baseline_ms is None or self._canary is None:
            return
        now = time.monotonic()
        if measuring_done(self.state, now, self.limits):  # the workers stood still: a fresh baseline
            settled = self.limits.remeasure_s * 0.75  # the last batch before the stop may still be committing
            measured = self._canary.p95_ms(settled, now=now, min_beats=5)
            self.baseline_ms = next_baseline(
                first_ms=self.first_baseline_ms, last_ms=self.baseline_ms, measured_ms=measured
            )
        window, beating = window_s(self.state, now, self.limits), self._canary.error is None
        canary = self._canary.p95_ms(window, now=now) if beating else None
        quiet = self._canary.p95_ms(window, now=now, min_beats=QUIET_BEATS, quiet=True) if beating else None
        readings = Readings(
            canary_p95_ms=canary,
            baseline_p95_ms=self.baseline_ms,
            quiet_p95_ms=quiet,
            lag_s=self._db.replica_lag_s(self._cfg.replicas) if self._cfg.replicas else None,
            sessions=self._db.active_sessions() if self._cfg.active_sessions_limit else None,
        )
        before = self.state
        self.state, _ = decide(self.state, readings, now, self.limits)
        if self.state.settings != before.settings:
            log.info("backfill throttle: %s", describe(self.state))
        self.settings = self.state.settings
        self.slots.set_limit(self.settings.workers)

    def describe(self) -> str:
        if self.state is None:
            return "off (--max-speed): every worker flat out"
        return describe(self.state)

    def stop(self) -> None:
        if self._canary is not None and self._canary.is_alive():
            self._canary.halt()
