"""Charts on cards, as chat-neutral data (pure; no I/O, no drawing).

A ``Chart`` is a few stacked panels over one time span, each a plain series of ``(time, value)`` points with an
optional threshold, plus vertical marks (a rollout's flips). The chat layer renders it to PNG and shows it as an
image whose alt text (``Chart.alt``) states the numbers, so the card reads without the image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_POINTS = 24  # readings per chart: enough for a curve, few enough to read quickly

Point = tuple[datetime, float | None]  # None: no data in that window (a gap in the line)


@dataclass(frozen=True)
class Series:
    """One panel: a named metric over time, and the limit it must stay under (drawn as a dashed line)."""

    name: str
    unit: str  # shown after numbers: "%", "ms", "rows/s", "" …
    points: tuple[Point, ...]
    threshold: float | None = None
    threshold_label: str = ""  # e.g. "< 1 %"
    step: bool = False  # an on/off state (a throttle) rather than a measurement

    def values(self) -> list[float]:
        return [v for _, v in self.points if v is not None]

    def shown(self, value: float) -> str:
        if self.unit == "%":
            text = f"{value:.2f}"
        else:
            text = f"{value:.2f}" if abs(value) < 10 and value != int(value) else f"{value:,.0f}"
        return f"{text} {self.unit}".rstrip()

    def summary(self) -> str:
        values = self.values()
        if not values:
            return f"{self.name}: no data"
        text = f"{self.name}: latest {self.shown(values[-1])}, max {self.shown(max(values))}"
        return text + (f" (limit {self.threshold_label})" if self.threshold_label else "")


@dataclass(frozen=True)
class Mark:
    at: datetime
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    since: datetime
    until: datetime
    panels: tuple[Series, ...]
    marks: tuple[Mark, ...] = ()

    @property
    def alt(self) -> str:
        """The numbers in words: what the image shows, for screen readers and clients without images."""
        parts = [f"{self.title}, {self.since:%H:%M}–{self.until:%H:%M} UTC", *(p.summary() for p in self.panels)]
        if self.marks:
            parts.append("flips at " + ", ".join(f"{m.at:%H:%M} ({m.label})" for m in self.marks))
        return "; ".join(parts)[:1990]

    @property
    def filename(self) -> str:
        slug = "".join(ch if ch.isalnum() else "-" for ch in self.title.lower()).strip("-")[:60]
        return f"{slug or 'chart'}-{self.until:%Y%m%d-%H%M}.png"


def chart_windows(*, since: datetime, now: datetime, window: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive windows ending at ``now`` covering ``since``…``now``: ``window`` wide, or wider so that at most
    ``MAX_POINTS`` are read; at least one window."""
    span = max(now - since, window)
    width = max(window, span / MAX_POINTS)
    count = max(1, min(MAX_POINTS, int(span / width + 0.999)))
    return [(now - width * (count - i), now - width * (count - i - 1)) for i in range(count)]


def sampled(windows: Sequence[tuple[datetime, datetime]], value: Callable[[int], float | None]) -> tuple[Point, ...]:
    """One point per window, at its end."""
    return tuple((until, value(i)) for i, (_, until) in enumerate(windows))


def rate_chart(
    *,
    title: str,
    rates: Sequence[tuple[datetime, float]],
    throttle: Sequence[tuple[datetime, float]] = (),
    now: datetime,
) -> Chart | None:
    """A backfill's speed over time (rows/s) and, when it has one, its throttle (any plain series: 0/1 for on/off,
    or a controller's level). None until there are two speed readings."""
    if len(rates) < 2:
        return None
    panels = [Series("speed", "rows/s", tuple((t, float(v)) for t, v in rates))]
    if throttle:
        panels.append(Series("throttle", "", tuple((t, float(v)) for t, v in throttle), step=True))
    return Chart(title=title, since=rates[0][0], until=now, panels=tuple(panels))


class SeriesLog:
    """Plain series recorded as they happen (a backfill's speed and throttle, per run), in memory. When a series
    reaches ``keep`` points every other one is dropped, so a long run keeps its whole shape at a coarser grain."""

    def __init__(self, *, keep: int = 120) -> None:
        self._keep = keep
        self._series: dict[tuple[object, str], list[tuple[datetime, float]]] = {}
        self._lock = threading.Lock()

    def add(self, key: object, at: datetime, **values: float) -> None:
        with self._lock:
            for name, value in values.items():
                points = self._series.setdefault((key, name), [])
                points.append((at, value))
                if len(points) >= self._keep:
                    points[:] = points[::2] if points[-1] is points[::2][-1] else [*points[::2], points[-1]]

    def points(self, key: object, name: str) -> list[tuple[datetime, float]]:
        with self._lock:
            return list(self._series.get((key, name), ()))
