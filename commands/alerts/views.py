"""What alerts look like in Slack: one #release card per incident (updated when it resolves), and `/zdm alerts`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from commands.alerts.config import AlertRule
from commands.alerts.model import AlertState, AlertStatus, describe, format_metric
from commands.cards import Card

ICONS = {AlertStatus.OK: "✅", AlertStatus.PENDING: "⏳", AlertStatus.FIRING: "🔥", AlertStatus.NO_DATA: "❔"}


def summary(rule: AlertRule, scope_size: int) -> str:
    if rule.summary:
        return rule.summary
    scope = f"{scope_size} tenants with the flag on" if rule.scope == "exposed" else f"all {scope_size} tenants"
    return f"{rule.metric.replace('_', ' ')} above {format_metric(rule, rule.above)} for {_minutes(rule)} ({scope})"


def incident_card(rule: AlertRule, state: AlertState, *, paged: bool, paused: Sequence[int]) -> Card:
    firing = state.status is AlertStatus.FIRING
    lines = [f"*Now:* {describe(rule, state.value)} over the last {_minutes(rule, window=True)}"]
    if state.drivers:
        lines.append("*Driven by:* " + ", ".join(state.drivers))
    if state.fired_at:
        lines.append(f"*Fired:* {state.fired_at:%Y-%m-%d %H:%M} UTC")
    if state.resolved_at and not firing:
        lines.append(f"*Resolved:* {state.resolved_at:%Y-%m-%d %H:%M} UTC")
    if paged:
        lines.append("*Paged:* on-call through PagerDuty" + ("" if firing else " (resolved there too)"))
    if paused:
        ids = ", ".join(f"#{i}" for i in paused)
        lines.append(f"*Paused:* rollout {ids}; `/zdm rollout resume` once the KPIs are healthy again")
    title = f"{'🔥 Alert' if firing else '✅ Resolved'} `{rule.name}`: {summary(rule, state.tenants)}"
    return Card(title=title, lines=tuple(lines), footer="`/zdm alerts` lists firing and recent alerts")


def alerts_card(
    rules: Sequence[AlertRule], states: dict[str, AlertState], events: Sequence[tuple[str, str, datetime, str]]
) -> Card:
    lines = []
    for rule in rules:
        state = states.get(rule.name) or AlertState(rule.name)
        since = f" since {state.since:%Y-%m-%d %H:%M} UTC" if state.since and state.status is not AlertStatus.OK else ""
        last = f"; last reading {describe(rule, state.value)}" if state.evaluated_at else "; not evaluated yet"
        lines.append(f"{ICONS[state.status]} `{rule.name}` {state.status.value}{since}{last}")
    if events:
        lines.append("*Recent*")
        lines += [f"• {at:%Y-%m-%d %H:%M} UTC `{rule}` {kind}{text}" for rule, kind, at, text in events]
    firing = sum(1 for s in states.values() if s.status is AlertStatus.FIRING)
    return Card(title=f"Alerts: {firing} firing of {len(rules)} rules", lines=tuple(lines))


def _minutes(rule: AlertRule, *, window: bool = False) -> str:
    seconds = int((rule.window if window else rule.hold).total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
