"""`[kpi] source = "prometheus"`: the rollout gates read their KPIs from the Prometheus HTTP API (a local server
answering range queries in its wire format), end to end through Slack requests and the scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.local.standins import JsonStandIn, Received, Reply
from commands.config import RunbookConfig
from commands.rollout.config import parse_duration
from tests.bot.conftest import Cadence, approve, card_text, thread_messages
from tests.conftest import APPROVER, BotServer, Databases, write_config


class PrometheusStandIn(JsonStandIn):
    """Every range query gets one point per step; the value per KPI figure is settable."""

    name = "prometheus-stand-in"

    def __init__(self) -> None:
        super().__init__()
        self.values = {"samples": 1000.0, "errors": 2.0, "p95": 120.0, "guardrail": 0.0}

    def answer(self, request: Received) -> Reply:
        form = request.body
        query = form["query"][0]
        figure = next(name for name in ("guardrail", "p95", "samples") if name in query)
        if 'status=~"5.."' in query:
            figure = "errors"
        if request.path == "/api/v1/query":  # an instant query (the alert rules read one window)
            result = [{"metric": {}, "value": [float(form["time"][0]), f"{self.values[figure]:g}"]}]
            return Reply(200, {"status": "success", "data": {"resultType": "vector", "result": result}})
        start, end = float(form["start"][0]), float(form["end"][0])
        step = parse_duration(form["step"][0]).total_seconds()
        points: list[list[Any]] = []
        at = start
        while at <= end + 1e-6:
            points.append([at, f"{self.values[figure]:g}"])
            at += step
        result = [{"metric": {}, "values": points}]
        return Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})


@pytest.fixture
def prometheus() -> Iterator[PrometheusStandIn]:
    stand_in = PrometheusStandIn()
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def config(tmp_path: Path, app_root: Path, prometheus: PrometheusStandIn) -> RunbookConfig:
    queries = """
samples = 'sum(increase(samples_total{tenant=~"$tenants"}[$window]))'
errors = 'sum(increase(samples_total{tenant=~"$tenants", status=~"5.."}[$window]))'
p95_ms = 'p95{tenant=~"$tenants"}'
guardrail_breaches = 'sum(increase(guardrail_total{tenant=~"$tenants"}[$window]))'
"""
    extra = f'[kpi]\nsource = "prometheus"\n\n[kpi.prometheus]\nurl = "{prometheus.url}"\n{queries}'
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra)


def test_gates_read_prometheus_and_a_breach_there_pauses_the_rollout(
    bot: BotServer, cadence: Cadence, dbs: Databases, prometheus: PrometheusStandIn
) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)  # demo_icupa is enabled
    cadence.at(timedelta(minutes=10), traffic=False)
    with dbs.state() as conn:
        assert conn.execute("select status from zdm.rollouts").fetchone() == ("running",)

    prometheus.values["errors"] = 50.0  # 5 % of 1000
    cadence.at(timedelta(minutes=20), traffic=False)
    with dbs.state() as conn:
        assert conn.execute("select status from zdm.rollouts").fetchone() == ("paused",)
    said = [card_text(m) for m in thread_messages(bot.slack)]
    assert any("paused automatically: KPI breach — error rate 5.00 % (needs < 1 %)" in text for text in said)

    queries = [r.body for r in prometheus.requests("POST") if r.path == "/api/v1/query_range"]  # the gates
    assert queries and all(q["step"] == ["5m"] for q in queries)
    assert {q["query"][0] for q in queries} >= {
        'sum(increase(samples_total{tenant=~"demo_icupa"}[5m]))',
        'p95{tenant=~"demo_icupa"}',
    }
    last = queries[-1]
    span = float(last["end"][0]) - float(last["start"][0])
    assert span == pytest.approx(10 * 60)  # three 5-minute windows: points at the end of each
