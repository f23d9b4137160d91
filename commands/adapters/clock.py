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
        self._real_origin = datetime.now(UTC)
        self._jumped = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._origin + (datetime.now(UTC) - self._real_origin) * self.scale + self._jumped

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._jumped += delta
        return self.now()
