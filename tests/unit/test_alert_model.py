"""Alert rules' "for" semantics as pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.alerts.config import AlertRule
from commands.alerts.model import AlertState, AlertStatus, Transition, evaluate, metric_value
from commands.rollout.gates import KpiReading

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RULE = AlertRule(name="error_rate", above=0.01)  # the runbook's: > 1 % for 5 min


def walk(values: list[tuple[timedelta, float | None]], rule: AlertRule = RULE) -> list[tuple[str, str | None]]:
    state, seen = AlertState(rule.name), []
    for offset, value in values:
        state, transition = evaluate(state, rule, value, T0 + offset)
        seen.append((state.status.value, transition.value if transition else None))
    return seen


def test_fires_at_5_00_not_4_59_and_resolves_once() -> None:
    s = timedelta(seconds=1)
    assert walk(
        [(0 * s, 0.02), (299 * s, 0.02), (300 * s, 0.02), (360 * s, 0.03), (420 * s, 0.001), (480 * s, 0.0)]
    ) == [
        ("pending", None),
        ("pending", None),
        ("firing", "trigger"),
        ("firing", None),
        ("ok", "resolve"),
        ("ok", None),
    ]


def test_a_reading_within_the_threshold_restarts_the_count() -> None:
    m = timedelta(minutes=1)
    seen = walk([(0 * m, 0.02), (3 * m, 0.01), (4 * m, 0.02), (8 * m, 0.02), (9 * m, 0.02)])
    assert seen == [("pending", None), ("ok", None), ("pending", None), ("pending", None), ("firing", "trigger")]


def test_no_data_breaks_a_pending_chain_but_never_resolves_a_firing_alert() -> None:
    m = timedelta(minutes=1)
    assert walk([(0 * m, 0.02), (3 * m, None), (4 * m, 0.02), (9 * m, 0.02)])[1:] == [
        ("no_data", None),
        ("pending", None),
        ("firing", "trigger"),
    ]
    firing = AlertState("error_rate", status=AlertStatus.FIRING, since=T0)
    state, transition = evaluate(firing, RULE, None, T0 + m)
    assert (state.status, transition) == (AlertStatus.FIRING, None)
    state, transition = evaluate(state, RULE, 0.0, T0 + 2 * m)
    assert (state.status, transition) == (AlertStatus.OK, Transition.RESOLVE)


def test_for_zero_fires_on_the_first_breach() -> None:
    assert walk(
        [(timedelta(0), 5.0)],
        AlertRule.model_validate({"name": "g", "metric": "guardrail_breaches", "above": 0, "for": "0s"}),
    ) == [("firing", "trigger")]


def test_too_few_samples_is_no_data_for_rates_and_latency() -> None:
    reading = KpiReading(T0, T0, samples=49, errors=10, p95_ms=900.0, guardrail_breaches=2)
    assert metric_value(RULE, reading) is None
    assert metric_value(AlertRule(name="p", metric="p95_ms", above=350), reading) is None
    assert metric_value(AlertRule(name="g", metric="guardrail_breaches", above=0), reading) == 2.0
    assert metric_value(RULE, KpiReading(T0, T0, samples=200, errors=3, p95_ms=None, guardrail_breaches=0)) == 0.015


def test_a_forward_jump_of_the_clock_is_not_evidence_for_the_whole_for() -> None:
    m = timedelta(minutes=1)
    # 0:00 breaching, then the wall clock jumps 10 minutes: no reading covered minutes 0–5, so the chain restarts
    assert walk([(0 * m, 0.02), (10 * m, 0.02), (14 * m, 0.02), (15 * m, 0.02)]) == [
        ("pending", None),
        ("pending", None),
        ("pending", None),
        ("firing", "trigger"),
    ]


def test_a_backward_step_of_the_clock_restarts_the_chain() -> None:
    m = timedelta(minutes=1)
    assert walk([(0 * m, 0.02), (4 * m, 0.02), (2 * m, 0.02), (6 * m, 0.02), (7 * m, 0.02)]) == [
        ("pending", None),
        ("pending", None),
        ("pending", None),  # stepped back to 0:02: pending since then, not since 0:00
        ("pending", None),
        ("firing", "trigger"),
    ]
