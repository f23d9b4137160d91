"""KPI charts for the cards people decide on: a rollout's approval prompt and an alert's incident card (pure).

Each chart stacks the three gate KPIs (error rate, P95 latency, AI-guardrail breaches) for the exposed tenants over
a period, one point per window, the limit drawn where there is one, and a rollout's flips marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.alerts.config import AlertRule
from commands.charts import Chart, Mark, Series, chart_windows, sampled
from commands.rollout.gates import KpiReading
from commands.rollout.model import Rollout, StepStatus

ALERT_SPAN = timedelta(hours=2)


@dataclass(frozen=True)
class Limits:
    """What each KPI must stay under (None: no limit drawn); the error rate is a fraction (0.01 = 1 %)."""

    error_rate_below: float | None = None
    p95_ms_below: float | None = None
    guardrail_breaches_at_most: int | None = None


def kpi_chart(
    *,
    title: str,
    windows: Sequence[tuple[datetime, datetime]],
    readings: Sequence[KpiReading],
    min_samples: int,
    limits: Limits,
    marks: Sequence[Mark] = (),
) -> Chart:
    """A window with fewer than ``min_samples`` requests has no error rate or P95 (a gap), as in the gates."""

    def enough(i: int) -> bool:
        return i < len(readings) and readings[i].samples >= min_samples

    def error_rate(i: int) -> float | None:
        return readings[i].error_rate * 100 if enough(i) else None

    def p95(i: int) -> float | None:
        return readings[i].p95_ms if enough(i) else None

    def breaches(i: int) -> float | None:
        return float(readings[i].guardrail_breaches) if i < len(readings) else None

    rate, latency, guard = limits.error_rate_below, limits.p95_ms_below, limits.guardrail_breaches_at_most
    panels = (
        Series(
            "error rate",
            "%",
            sampled(windows, error_rate),
            None if rate is None else rate * 100,
            "" if rate is None else f"< {rate * 100:g} %",
        ),
        Series(
            "P95 latency",
            "ms",
            sampled(windows, p95),
            latency,
            "" if latency is None else f"< {latency:g} ms",
        ),
        Series(
            "guardrail breaches",
            "",
            sampled(windows, breaches),
            None if guard is None else float(guard),
            "" if guard is None else f"≤ {guard}",
        ),
    )
    since, until = windows[0][0], windows[-1][1]
    shown = tuple(m for m in marks if since <= m.at <= until)
    return Chart(title=title, since=since, until=until, panels=panels, marks=shown)


def rollout_chart_windows(rollout: Rollout, now: datetime) -> list[tuple[datetime, datetime]]:
    """From the rollout's start (at least the gate's hold period) to ``now``, in gate-wide windows or wider."""
    gates = rollout.gates
    since = min(rollout.started_at, now - gates.hold_for)
    return chart_windows(since=since, now=now, window=gates.window)


def flip_marks(rollout: Rollout) -> list[Mark]:
    """Each finished step's flip, to mark on a KPI chart."""
    return [
        Mark(state.flipped_at, f"step {i + 1} {rollout.plan[i].name}")
        for i, state in enumerate(rollout.steps)
        if state.status == StepStatus.DONE and state.flipped_at is not None
    ]


def rollout_chart(
    rollout: Rollout, *, windows: Sequence[tuple[datetime, datetime]], readings: Sequence[KpiReading], tenants: int
) -> Chart:
    gates = rollout.gates
    flips = flip_marks(rollout)
    return kpi_chart(
        title=f"Rollout #{rollout.id} KPIs on {tenants} tenants",
        windows=windows,
        readings=readings,
        min_samples=gates.min_samples,
        limits=Limits(gates.error_rate_below, gates.p95_ms_below, gates.guardrail_breaches_at_most),
        marks=flips,
    )


def alert_chart_windows(window: timedelta, now: datetime) -> list[tuple[datetime, datetime]]:
    return chart_windows(since=now - ALERT_SPAN, now=now, window=window)


def alert_limits(rule: AlertRule) -> Limits:
    """The rule's threshold on its own metric's panel."""
    if rule.metric == "error_rate":
        return Limits(error_rate_below=rule.above)
    if rule.metric == "p95_ms":
        return Limits(p95_ms_below=rule.above)
    if rule.metric == "guardrail_breaches":
        return Limits(guardrail_breaches_at_most=int(rule.above))
    return Limits()
