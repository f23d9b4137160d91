"""Alert rules with "for" semantics: pure decisions, no I/O.

Each evaluation gets the rule's reading (``None`` = no data). A breach starts *pending*; the alert *fires* when the
condition held at every reading for the rule's whole ``for`` duration (4:59 does not fire, 5:00 does); a reading
within the threshold *resolves* it once. No data never resolves a firing alert (a broken KPI source must not
silence a page) and breaks a pending chain.

Elapsed time counts only where readings saw it: each reading covers the rule's ``window`` before it, so a chain
continues only while consecutive readings are at most one window apart. A longer gap (a stopped scheduler, a
forward jump of the wall clock) restarts the chain at the next breaching reading, and so does a backward step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from commands.alerts.config import AlertRule
from commands.rollout.gates import KpiReading


class AlertStatus(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    NO_DATA = "no_data"


class Transition(StrEnum):
    TRIGGER = "trigger"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class AlertState:
    rule: str
    status: AlertStatus = AlertStatus.OK
    since: datetime | None = None  # when the current status began
    value: float | None = None  # the last reading's value
    evaluated_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    tenants: int = 0  # how many tenants the last reading covered
    undelivered: tuple[Transition, ...] = ()  # pages/notices decided but not yet delivered (retried next tick)
    message_channel: str | None = None  # the #release card of the current (or last) incident
    message_ts: str | None = None
    paused_rollouts: tuple[int, ...] = ()
    drivers: tuple[str, ...] = ()  # the tenants driving the metric when it fired, e.g. "`pilot_a` 5.00 %"


@dataclass(frozen=True)
class AlertEvent:
    """One line of alert history: a rule went pending, firing, resolved or no_data."""

    rule: str
    kind: str
    at: datetime
    value: float | None
    detail: dict[str, Any]


def metric_value(rule: AlertRule, reading: KpiReading | None) -> float | None:
    """The rule's metric from a reading; None when there is no data (too few samples for a rate or latency)."""
    if reading is None:
        return None
    if rule.metric == "samples":
        return float(reading.samples)
    if rule.metric == "guardrail_breaches":
        return float(reading.guardrail_breaches)
    if reading.samples < max(rule.min_samples, 1):
        return None
    if rule.metric == "error_rate":
        return reading.error_rate
    return reading.p95_ms


def evaluate(
    state: AlertState, rule: AlertRule, value: float | None, now: datetime
) -> tuple[AlertState, Transition | None]:
    """One reading → the new state and the transition to announce, if any."""
    previous = state.evaluated_at
    unseen = previous is None or now < previous or now - previous > rule.window  # time no reading covered
    state = replace(state, value=value, evaluated_at=now)
    if state.status is AlertStatus.FIRING:
        if value is not None and value <= rule.above:
            return replace(state, status=AlertStatus.OK, since=now, resolved_at=now), Transition.RESOLVE
        return state, None
    if value is None:
        if state.status is AlertStatus.NO_DATA:
            return state, None
        return replace(state, status=AlertStatus.NO_DATA, since=now), None
    if value <= rule.above:
        if state.status is AlertStatus.OK:
            return state, None
        return replace(state, status=AlertStatus.OK, since=now), None
    chained = state.status is AlertStatus.PENDING and state.since is not None and not unseen
    since = state.since if chained and state.since is not None else now
    state = replace(state, status=AlertStatus.PENDING, since=since)
    if now - since >= rule.hold:
        return replace(state, status=AlertStatus.FIRING, since=now, fired_at=now, resolved_at=None), Transition.TRIGGER
    return state, None


def describe(rule: AlertRule, value: float | None) -> str:
    """``error rate 2.40 % (threshold 1.00 %)`` and the like."""
    return f"{rule.metric.replace('_', ' ')} {format_metric(rule, value)} (threshold {format_metric(rule, rule.above)})"


def format_metric(rule: AlertRule, value: float | None) -> str:
    if value is None:
        return "no data"
    if rule.metric == "error_rate":
        return f"{value * 100:.2f} %"
    if rule.metric == "p95_ms":
        return f"{value:.0f} ms"
    return f"{value:g}"
