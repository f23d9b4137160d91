"""Alert rules on real Postgres KPIs, evaluated by the real scheduler on a fake clock, paging a local PagerDuty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import Message, SlackEmulator
from bot.local.standins import PagerDutyStandIn
from commands.config import RunbookConfig
from tests.bot.conftest import FLAG, Cadence, card_text
from tests.conftest import ONCALL, Databases, make_settings, write_config
from tests.fakes import FakeClock

M = timedelta(minutes=1)
DEDUP_KEY = f"zdm/{FLAG}/error_rate"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    """Evaluated every second, so a test can read at 4:59 and again at 5:00."""
    return write_config(tmp_path / "zdm.toml", app_root, extra='[alerts]\nevaluate_every = "1s"\n')


def build(
    dbs: Databases, slack: SlackEmulator, tmp_path: Path, config: RunbookConfig, clock: FakeClock, pd: PagerDutyStandIn
) -> Container:
    return build_container(make_settings(dbs, slack, tmp_path, pagerduty=pd), config=config, clock=clock)


@pytest.fixture
def container(
    dbs: Databases,
    slack: SlackEmulator,
    config: RunbookConfig,
    tmp_path: Path,
    clock: FakeClock,
    pagerduty: PagerDutyStandIn,
) -> Iterator[Container]:
    built = build(dbs, slack, tmp_path, config, clock, pagerduty)
    yield built
    built.close()


def traffic(dbs: Databases, since: datetime, until: datetime, *, per_minute: int, errors_per_minute: int) -> None:
    """Deterministic requests for pilot_a (its flag is on in the demo seed): so many per minute, so many failing."""
    with dbs.target() as conn:
        conn.execute(
            "insert into public.request_metrics (tenant_slug, at, status, latency_ms)"
            " select 'pilot_a', m + (n * interval '1 second' * 60 / %(per)s),"
            "  case when n < %(errors)s then 500 else 200 end, 120"
            " from generate_series(%(since)s::timestamptz, %(until)s::timestamptz - interval '1 minute',"
            "  interval '1 minute') as m, generate_series(0, %(per)s - 1) as n",
            {"since": since, "until": until, "per": per_minute, "errors": errors_per_minute},
        )


def cards(slack: SlackEmulator, title: str) -> list[Message]:
    return [m for m in slack.in_channel("#release") if card_text(m).startswith(title)]


def test_error_rate_over_1_percent_for_5_minutes_pages_once_pauses_the_rollout_and_resolves_once(
    container: Container, cadence: Cadence, dbs: Databases, pagerduty: PagerDutyStandIn, slack: SlackEmulator
) -> None:
    rollout = container.services.rollouts.start(flag=None, plan=None, actor=ONCALL, correlation_id=None)
    t0 = cadence.start + M
    traffic(dbs, t0 - 5 * M, t0 + 10 * M, per_minute=100, errors_per_minute=3)  # 3 % for pilot_a (of 2 exposed)
    cadence.at(M, traffic=False)  # first breaching reading: pending
    assert container.services.alerts.state("error_rate").status == "pending"
    cadence.at(M + timedelta(minutes=4, seconds=59), traffic=False)
    assert pagerduty.requests() == []
    cadence.at(6 * M, traffic=False)  # 5:00 after the first breaching reading
    [trigger] = [r.body for r in pagerduty.requests()]
    assert trigger["routing_key"] == PagerDutyStandIn.ROUTING_KEY and trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == DEDUP_KEY and trigger["client"] == "zdm"
    payload = trigger["payload"]
    assert payload["summary"] == (
        "error rate above 1.00 % for 5 min (2 tenants with the flag on): error rate 3.00 % (threshold 1.00 %)"
    )
    assert (payload["source"], payload["severity"], payload["component"], payload["class"]) == (
        "zdm",
        "critical",
        FLAG,
        "kpi",
    )
    assert datetime.fromisoformat(payload["timestamp"]) == t0 + 5 * M
    assert payload["custom_details"] == {"rule": "error_rate", "value": 0.03, "threshold": 0.01, "tenants": 2}

    with dbs.state() as conn:
        row = conn.execute(
            "select status, doc->>'status_reason' from zdm.rollouts where id = %s", (rollout.id,)
        ).fetchone()
    assert row is not None
    status, reason = row
    assert status == "paused" and reason.startswith("alert `error_rate` fired: error rate 3.00 %")
    assert any("paused by zdm: alert `error_rate` fired" in card_text(m) for m in slack.in_channel("#release"))
    assert container.services.state_figures().alerts == {"error_rate": "firing"}  # zdm_alert_firing in /metrics
    [card] = cards(slack, "*🔥 Alert `error_rate`")
    assert f"*Paused:* rollout #{rollout.id}" in card_text(card) and "*Paged:* on-call" in card_text(card)
    assert "*Driven by:* `pilot_a` 3.00 %" in card_text(card)  # pilot_b has no errors: not named
    image = next(b for b in card.blocks if b["type"] == "image")  # the KPI chart, uploaded with Slack's file API
    assert slack.file_bytes(image["slack_file"]["id"]) is not None
    assert "error rate: latest 3.00 %" in image["alt_text"] and "(limit < 1 %)" in image["alt_text"]

    cadence.at(8 * M, traffic=False)  # still breaching: no second page
    traffic(dbs, t0 + 10 * M, t0 + 20 * M, per_minute=100, errors_per_minute=0)
    cadence.at(16 * M, traffic=False)  # the last 5 minutes are healthy: resolve
    cadence.at(18 * M, traffic=False)
    assert [r.body["event_action"] for r in pagerduty.requests()] == ["trigger", "resolve"]
    assert pagerduty.requests()[1].body == {
        "routing_key": PagerDutyStandIn.ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": DEDUP_KEY,
    }
    assert pagerduty.alerts[DEDUP_KEY]["status"] == "resolved"
    assert card_text(cards(slack, "*✅ Resolved `error_rate`")[0]).count("*Resolved:*") == 1
    text, _card, _ = container.services.alerts.command(text="")
    assert text == "Alerts: 0 firing of 1 rules"


def test_no_data_neither_pages_nor_resolves(
    container: Container, cadence: Cadence, dbs: Databases, pagerduty: PagerDutyStandIn
) -> None:
    cadence.at(M, traffic=False)
    assert container.services.alerts.state("error_rate").status == "no_data"
    traffic(dbs, cadence.start, cadence.start + 12 * M, per_minute=100, errors_per_minute=5)
    for minute in (7, 12):
        cadence.at(minute * M, traffic=False)
    assert [r.body["event_action"] for r in pagerduty.requests()] == ["trigger"]
    cadence.at(30 * M, traffic=False)  # nothing in the last 5 minutes: no data is not recovery
    state = container.services.alerts.state("error_rate")
    assert state.status == "firing" and state.value is None
    assert [r.body["event_action"] for r in pagerduty.requests()] == ["trigger"]


def test_a_second_replica_and_a_pagerduty_outage_never_page_twice(
    container: Container,
    cadence: Cadence,
    dbs: Databases,
    pagerduty: PagerDutyStandIn,
    slack: SlackEmulator,
    tmp_path: Path,
    config: RunbookConfig,
    clock: FakeClock,
) -> None:
    traffic(dbs, cadence.start - 5 * M, cadence.start + 20 * M, per_minute=100, errors_per_minute=4)
    other = build(dbs, slack, tmp_path, config, clock, pagerduty)
    try:
        cadence.at(M, traffic=False)
        other.services.alerts.evaluate_due(clock.now())  # the other replica, same tick: nothing new
        for _ in range(4):  # PagerDuty is down for the whole first attempt (4 tries)
            pagerduty.fail_next(503, {"status": "unavailable"}, {"Retry-After": "0"})
        cadence.at(6 * M, traffic=False)
        assert container.services.alerts.state("error_rate").undelivered == ("trigger",)
        assert pagerduty.alerts == {}
        other.services.alerts.evaluate_due(clock.now())  # the next tick (here: the other replica's) delivers it
        cadence.at(7 * M, traffic=False)
    finally:
        other.close()
    alert = pagerduty.alerts[DEDUP_KEY]
    assert (alert["status"], alert["opened"], alert["triggers"]) == ("triggered", 1, 1)
    assert [r.body["event_action"] for r in pagerduty.requests() if r.body.get("event_action")] == ["trigger"] * 5
    assert len(cards(slack, "*🔥 Alert `error_rate`")) == 1
