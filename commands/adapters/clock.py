"""Clocks. Decision code never calls ``datetime.now()`` itself: it is handed a ``Clock``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DemoClock:
    """The demo's clock: real time sped up ``scale`` times (0 = frozen), plus jumps made with ``advance``.

    ``zdm demo`` uses it so a person can watch a 72-hour cadence in a couple of minutes, or step through it.
    """

    def __init__(self, *, scale: float, start: datetime | None = None) -> None:
        self.scale = scale
        self._origin = start or datetime.now(UTC)
        self._real_origin: datetime | None = None  # stands still until `start()`
        self._jumped = timedelta(0)
        self._lock = threading.Lock()

    def start(self) -> None:
        """Let time run from here (set-up before this, such as starting Postgres, takes no demo time)."""
        with self._lock:
            self._real_origin = datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            running = datetime.now(UTC) - self._real_origin if self._real_origin else timedelta(0)
            return self._origin + running * self.scale + self._jumped

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._jumped += delta
        return self.now()
