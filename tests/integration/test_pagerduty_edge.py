"""The PagerDuty adapter against a local server validating events as the Events API v2 does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.local.standins import PagerDutyStandIn
from commands.adapters.pagerduty import PagerDutyEvents
from commands.errors import OutsideServiceFailed

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def trigger(client: PagerDutyEvents, **changes: object) -> None:
    event: dict[str, object] = {
        "dedup_key": "zdm/flag/error_rate",
        "summary": "error rate above 1 %",
        "severity": "critical",
        "at": AT,
        "component": "flag",
        "group": "zdm-rollout",
        "details": {"value": 0.02},
    }
    client.trigger(**{**event, **changes})  # type: ignore[arg-type]


def test_a_trigger_repeated_while_open_is_one_alert_and_a_trigger_after_resolve_is_a_new_one(
    pagerduty: PagerDutyStandIn,
) -> None:
    client = PagerDutyEvents(routing_key=pagerduty.ROUTING_KEY, events_url=pagerduty.events_url)
    trigger(client)
    trigger(client)
    client.resolve(dedup_key="zdm/flag/error_rate")
    trigger(client)
    alert = pagerduty.alerts["zdm/flag/error_rate"]
    assert (alert["status"], alert["opened"]) == ("triggered", 2)
    first = pagerduty.requests()[0].body
    assert first["payload"]["timestamp"] == "2026-11-25T09:00:00+00:00" and first["payload"]["source"] == "zdm"


def test_invalid_events_and_wrong_keys_are_refused_in_one_sentence(pagerduty: PagerDutyStandIn) -> None:
    with pytest.raises(OutsideServiceFailed, match=r"PagerDuty failed for trigger k: HTTP 400 Event object is invalid"):
        trigger(PagerDutyEvents(routing_key="short", events_url=pagerduty.events_url), dedup_key="k")
    with pytest.raises(OutsideServiceFailed, match="severity"):
        trigger(PagerDutyEvents(routing_key=pagerduty.ROUTING_KEY, events_url=pagerduty.events_url), severity="fatal")
    assert pagerduty.alerts == {}
