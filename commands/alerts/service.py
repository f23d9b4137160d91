"""Alerts (runbook §5): the scheduler evaluates each rule against the KPI source; a firing rule pages on-call,
posts one card in the release channel and pauses running rollouts; recovery resolves the page and the card.

Decisions are made and saved first (``undelivered`` names what is still to tell), then delivered; a delivery that
fails is retried on the next tick. Every delivery step is idempotent (PagerDuty merges a repeated trigger by its
``dedup_key``, the card is edited once posted, pausing a paused rollout changes nothing), so a crash or a second
replica never pages twice. One replica evaluates at a time (an advisory lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from commands.alerts.args import ALERTS_ARGS
from commands.alerts.config import AlertRule
from commands.alerts.model import (
    AlertEvent,
    AlertState,
    Transition,
    describe,
    evaluate,
    format_metric,
    metric_value,
)
from commands.alerts.views import alerts_card, incident_card, summary
from commands.cards import Card, MessageRef
from commands.charts import Chart, Mark
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.kpi_chart import alert_chart_windows, alert_limits, kpi_chart
from commands.ports import AuditEvent, AuditLog, Clock, FlagStore, KpiSource, MessageGone, Notifier, TargetDatabase

log = logging.getLogger(__name__)
MAX_TENANTS = 1_000_000
MAX_BREAKDOWN = 100  # tenants read one by one to name the drivers of a firing alert
MAX_DRIVERS = 3


class Pager(Protocol):
    def trigger(
        self,
        *,
        dedup_key: str,
        summary: str,
        severity: str,
        at: datetime,
        component: str,
        group: str,
        details: dict[str, object],
    ) -> None: ...

    def resolve(self, *, dedup_key: str) -> None: ...


class AlertStore(Protocol):
    def get(self, rule: str) -> AlertState | None: ...

    def all(self) -> list[AlertState]: ...

    def save(self, state: AlertState, *, event: AlertEvent | None = None) -> None: ...

    def recent(self, *, limit: int) -> list[AlertEvent]: ...

    def exclusive(self) -> AbstractContextManager[bool]: ...


class RolloutPauser(Protocol):
    def pause_for_alert(self, *, flag: str, reason: str) -> list[int]: ...

    def flips(self, *, flag: str, since: datetime) -> list[Mark]:
        """The flips of ``flag``'s rollouts since then (to mark on the alert's chart)."""
        ...


@dataclass(frozen=True)
class AlertPorts:
    clock: Clock
    kpis: KpiSource
    target: TargetDatabase
    flags: FlagStore
    store: AlertStore
    pager: Pager | None  # None: no routing key configured; the card says nobody was paged
    notifier: Notifier
    rollouts: RolloutPauser
    audit: AuditLog


class AlertService:
    def __init__(self, *, config: RunbookConfig, ports: AlertPorts) -> None:
        self._config = config
        self._p = ports

    def command(self, *, text: str) -> tuple[str, Card | None, Callable[[], object] | None]:
        ALERTS_ARGS.parse(text)  # no arguments: one sentence for any word it does not know
        states = {s.rule: s for s in self._p.store.all()}
        rules = {r.name: r for r in self._config.alerts.rules}
        events = []
        for e in self._p.store.recent(limit=10):
            rule = rules.get(e.rule)
            value = f" at {format_metric(rule, e.value)}" if rule and e.kind != "no_data" else ""
            events.append((e.rule, e.kind, e.at, value))
        card = alerts_card(self._config.alerts.rules, states, events)
        return card.title, card, None

    def evaluate_due(self, now: datetime) -> datetime | None:
        """Scheduler job: evaluate every rule whose interval has passed; return when the next one is due."""
        every = self._config.alerts.evaluate_every
        with self._p.store.exclusive() as held:
            if not held:
                return None  # another replica is evaluating
            tenants: dict[str, list[str]] = {}
            for rule in self._config.alerts.rules:
                try:
                    state = self._p.store.get(rule.name) or AlertState(rule.name)
                    last = state.evaluated_at
                    if last is None or now - last >= every or now < last:  # a backward step: read again now
                        scope = tenants.get(rule.scope) or tenants.setdefault(rule.scope, self._scope(rule))
                        state = self._evaluate(rule, state, scope, now)
                    if state.undelivered:
                        self._deliver(rule, state)
                except UserError as exc:  # e.g. the KPI source refused: the other rules still run
                    log.warning("alert %s not evaluated this tick: %s", rule.name, exc)
        return now + every

    def _evaluate(self, rule: AlertRule, state: AlertState, scope: Sequence[str], now: datetime) -> AlertState:
        reading = self._p.kpis.read(scope, [(now - rule.window, now)])[0] if scope else None
        return self._apply(rule, state, metric_value(rule, reading), scope, now)

    def _apply(
        self, rule: AlertRule, state: AlertState, value: float | None, scope: Sequence[str], now: datetime
    ) -> AlertState:
        new, transition = evaluate(state, rule, value, now)
        new = replace(new, tenants=len(scope))
        event = None
        if new.status is not state.status or transition is not None:
            kind = "resolved" if transition is Transition.RESOLVE else new.status.value
            event = AlertEvent(rule.name, kind, now, value, {"tenants": len(scope)})
        if transition is not None:
            new = replace(new, undelivered=(*new.undelivered, transition))
            if transition is Transition.TRIGGER:
                new = replace(
                    new,
                    message_channel=None,
                    message_ts=None,
                    paused_rollouts=(),
                    drivers=self._drivers(rule, scope, now),
                )
            outcome = "firing" if transition is Transition.TRIGGER else "resolved"
            self._p.audit.record(
                AuditEvent("zdm", f"alert.{transition.value}", rule.name, outcome, {"value": value}), at=now
            )
        self._p.store.save(new, event=event)
        return new

    def _drivers(self, rule: AlertRule, scope: Sequence[str], now: datetime) -> tuple[str, ...]:
        """The tenants with the worst figures over the last window (for a scope small enough to read one by one)."""
        if rule.metric == "samples" or not 1 < len(scope) <= MAX_BREAKDOWN:
            return ()
        try:
            ranked: list[tuple[float, str]] = []
            for tenant in scope:
                [reading] = self._p.kpis.read([tenant], [(now - rule.window, now)])
                if rule.metric == "error_rate" and reading.errors:
                    ranked.append((reading.errors, f"`{tenant}` {format_metric(rule, reading.error_rate)}"))
                elif rule.metric == "guardrail_breaches" and reading.guardrail_breaches:
                    ranked.append((reading.guardrail_breaches, f"`{tenant}` {reading.guardrail_breaches}"))
                elif rule.metric == "p95_ms" and reading.p95_ms is not None and reading.p95_ms > rule.above:
                    ranked.append((reading.p95_ms, f"`{tenant}` {format_metric(rule, reading.p95_ms)}"))
        except Exception as exc:  # the page matters more than its breakdown (a KPI source outage, a refusal)
            log.warning("alert %s: no per-tenant breakdown: %s", rule.name, exc)
            return ()
        ranked.sort(key=lambda pair: -pair[0])
        return tuple(text for _, text in ranked[:MAX_DRIVERS])

    def _deliver(self, rule: AlertRule, state: AlertState) -> None:
        for transition in state.undelivered:
            try:
                state = self._deliver_one(rule, state, transition)
            except Exception:
                log.exception("alert %s: could not deliver %s; retrying next tick", rule.name, transition.value)
                return
            state = replace(state, undelivered=state.undelivered[1:])
            self._p.store.save(state)

    def _deliver_one(self, rule: AlertRule, state: AlertState, transition: Transition) -> AlertState:
        flag = self._config.flag.name
        dedup_key = f"zdm/{flag}/{rule.name}"
        pager = self._p.pager if rule.page else None
        if pager is not None:
            if transition is Transition.TRIGGER:
                pager.trigger(
                    dedup_key=dedup_key,
                    summary=f"{summary(rule, state.tenants)}: {describe(rule, state.value)}",
                    severity=rule.severity,
                    at=state.fired_at or self._p.clock.now(),
                    component=flag,
                    group="zdm-rollout",
                    details={
                        "rule": rule.name,
                        "value": state.value,
                        "threshold": rule.above,
                        "tenants": state.tenants,
                    },
                )
            else:
                pager.resolve(dedup_key=dedup_key)
        if transition is Transition.TRIGGER and rule.pause_rollout and not state.paused_rollouts:
            reason = f"alert `{rule.name}` fired: {describe(rule, state.value)}"
            paused = self._p.rollouts.pause_for_alert(flag=flag, reason=reason)
            state = replace(state, paused_rollouts=tuple(paused))
            self._p.store.save(state)
        return self._post_card(rule, state, paged=pager is not None)

    def _post_card(self, rule: AlertRule, state: AlertState, *, paged: bool) -> AlertState:
        card = incident_card(rule, state, paged=paged, paused=state.paused_rollouts)
        card = replace(card, chart=self._chart(rule))
        if state.message_channel and state.message_ts:
            try:
                self._p.notifier.update(MessageRef(state.message_channel, state.message_ts), card)
                return state
            except MessageGone:
                pass
        ref = self._p.notifier.post(self._config.channels.release, card)
        state = replace(state, message_channel=ref.channel, message_ts=ref.ts)
        self._p.store.save(state)
        return state

    def scope(self, rule_name: str) -> list[str]:
        """The tenants the rule ``rule_name`` watches now (for `exposed`: who has the flag on, by zdm's record when
        the flag backend cannot say)."""
        return self._scope(next(r for r in self._config.alerts.rules if r.name == rule_name))

    def _chart(self, rule: AlertRule) -> Chart | None:
        """The KPIs of the rule's tenants over the last two hours, the rule's threshold drawn (None if unreadable)."""
        now = self._p.clock.now()
        try:
            scope = self._scope(rule)
            spans = alert_chart_windows(rule.window, now)
            readings = self._p.kpis.read(scope, spans) if scope else []
            flips = self._p.rollouts.flips(flag=self._config.flag.name, since=spans[0][0]) if spans else []
        except Exception as exc:
            log.warning("no chart for alert %s: %s", rule.name, exc)
            return None
        return kpi_chart(
            title=f"Alert {rule.name}: KPIs on {len(scope)} tenants",
            windows=spans,
            readings=readings,
            min_samples=rule.min_samples,
            limits=alert_limits(rule),
            marks=flips,
        )

    def _scope(self, rule: AlertRule) -> list[str]:
        every = self._p.target.find_tenants("*", limit=MAX_TENANTS)
        if rule.scope == "all":
            return every
        return sorted(self._p.flags.enabled_among(flag=self._config.flag.name, tenants=every))

    def states(self) -> list[AlertState]:
        return self._p.store.all()

    def state(self, rule: str) -> AlertState | None:
        return self._p.store.get(rule)
