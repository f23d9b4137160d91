"""The Prometheus KPI source: PromQL placeholders, parsing of recorded API responses, and the adapter against a
local server answering in the Prometheus HTTP API's wire format (errors, 5xx retries, timeouts)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.local.standins import JsonStandIn, Received, Reply
from commands.adapters.kpi_prometheus import PrometheusKpiSource
from commands.adapters.promql import (
    PromResponseError,
    parse_instant,
    parse_range,
    prom_duration,
    render,
    step_windows,
    tenant_regex,
)
from commands.config import RunbookConfig
from commands.errors import OutsideServiceFailed
from commands.kpi_config import PrometheusConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "prometheus"
NINE = datetime(2025, 11, 25, 9, 0, tzinfo=UTC)  # 1764061200, the time in the recorded answers
FIVE = timedelta(minutes=5)


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_placeholders_become_an_escaped_alternation_and_a_prometheus_duration() -> None:
    assert tenant_regex(["pilot_b", "pilot_a", "pilot_a"]) == "pilot_a|pilot_b"
    assert tenant_regex(["a.b", "c+d"]) == "a\\\\.b|c\\\\+d"  # RE2 escape, then PromQL string escape
    assert tenant_regex(['x"y']) == 'x\\"y'
    durations = [prom_duration(timedelta(seconds=s)) for s in (300, 90, 3600, 86400, 1.5)]
    assert durations == ["5m", "90s", "1h", "1d", "1500ms"]
    query = 'sum(increase(requests_total{tenant=~"$tenants"}[$window])) + label_replace(vector(0), "a", "$1", "", "")'
    assert render(query, tenants=["demo_icupa", "pilot-a"], window=FIVE) == (
        'sum(increase(requests_total{tenant=~"demo_icupa|pilot-a"}[5m])) + label_replace(vector(0), "a", "$1", "", "")'
    )


def test_recorded_instant_answers() -> None:
    assert parse_instant(recorded("instant_p95")) == 312.5
    assert parse_instant(recorded("instant_empty")) is None
    nan = parse_instant(recorded("instant_nan"))
    assert nan is not None and nan != nan
    assert parse_instant(recorded("scalar")) == 7.0
    with pytest.raises(PromResponseError, match=r"returned 2 series; aggregate it to one"):
        parse_instant(recorded("instant_two_series"))
    with pytest.raises(PromResponseError, match=r'^bad_data: invalid parameter "query": 1:27: parse error'):
        parse_instant(recorded("error_bad_data"))
    with pytest.raises(PromResponseError, match="expected an instant vector, got 'matrix'"):
        parse_instant(recorded("range_samples"))


def test_recorded_range_answers_are_keyed_by_millisecond_timestamps() -> None:
    points = parse_range(recorded("range_samples"))
    assert points == {1764060600000: 0.0, 1764060900000: 300.0000000000001, 1764061200000: 41.25}
    assert parse_range({"status": "success", "data": {"resultType": "matrix", "result": []}}) == {}
    with pytest.raises(PromResponseError, match="timeout: query timed out"):
        parse_range(recorded("error_timeout"))


def test_only_equal_consecutive_windows_make_a_range_query() -> None:
    three = [(NINE - FIVE * (3 - i), NINE - FIVE * (2 - i)) for i in range(3)]
    assert step_windows(three) == FIVE
    assert step_windows(three[:1]) is None
    assert step_windows([three[0], three[2]]) is None  # a gap
    assert step_windows([three[0], (three[0][1], three[0][1] + timedelta(minutes=6))]) is None


def test_kpi_config_validates_placeholders_and_needs_a_url(tmp_path: Path) -> None:
    PrometheusConfig(url="http://prom:9090")
    with pytest.raises(ValueError, match=r"unknown placeholder \$tenant; use \$tenants and \$window"):
        PrometheusConfig(url="http://prom:9090", samples='sum(x{tenant=~"$tenant"})')
    with pytest.raises(ValueError, match="must select the tenants"):
        PrometheusConfig(url="http://prom:9090", errors="sum(x[$window])")
    with pytest.raises(ValueError, match=r"needs a \[kpi.prometheus\] section"):
        RunbookConfig.model_validate({"kpi": {"source": "prometheus"}})
    assert RunbookConfig().kpi.source == "sql"


class PrometheusStandIn(JsonStandIn):
    """Answers /api/v1/query and /api/v1/query_range (form POSTs) with a recorded answer per KPI figure."""

    name = "prometheus-stand-in"

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = answers

    def answer(self, request: Received) -> Reply:
        query = request.body["query"][0]
        figure = next(name for name in ("errors", "guardrail", "p95", "samples") if name in query)
        if figure in self.answers:
            return Reply(200, self.answers[figure])
        kind = "matrix" if request.path.endswith("query_range") else "vector"
        return Reply(200, {"status": "success", "data": {"resultType": kind, "result": []}})


QUERIES: dict[str, Any] = {
    "samples": 'samples{tenant=~"$tenants"}[$window]',
    "errors": 'errors{tenant=~"$tenants"}',
    "p95_ms": 'p95{tenant=~"$tenants"}',
    "guardrail_breaches": 'guardrail{tenant=~"$tenants"}',
}


@pytest.fixture
def prom() -> Iterator[PrometheusStandIn]:
    stand_in = PrometheusStandIn({})
    stand_in.start()
    yield stand_in
    stand_in.stop()


def source(prom: JsonStandIn, **kwargs: Any) -> PrometheusKpiSource:
    return PrometheusKpiSource(PrometheusConfig(url=prom.url, **QUERIES), base_delay_s=0, **kwargs)


def test_instant_queries_at_each_window_end(prom: PrometheusStandIn) -> None:
    prom.answers = {"samples": recorded("scalar"), "p95": recorded("instant_p95"), "errors": recorded("instant_nan")}
    [reading] = source(prom).read(["pilot_a"], [(NINE - FIVE, NINE)])
    assert (reading.samples, reading.errors, reading.p95_ms, reading.guardrail_breaches) == (7, 0, 312.5, 0)
    requests = prom.requests("POST")
    assert [r.path for r in requests] == ["/api/v1/query"] * 4
    assert requests[0].body == {
        "query": ['samples{tenant=~"pilot_a"}[5m]'],
        "time": ["1764061200.000"],
        "timeout": ["10s"],
    }


def test_consecutive_windows_use_one_range_query_per_figure(prom: PrometheusStandIn) -> None:
    prom.answers = {"samples": recorded("range_samples"), "p95": recorded("range_p95_gap")}
    windows = [(NINE - FIVE * (3 - i), NINE - FIVE * (2 - i)) for i in range(3)]
    readings = source(prom).read(["pilot_a", "pilot_b"], windows)
    assert [(r.since, r.until, r.samples, r.p95_ms) for r in readings] == [
        (NINE - 3 * FIVE, NINE - 2 * FIVE, 0, None),  # NaN: no latency
        (NINE - 2 * FIVE, NINE - FIVE, 300, None),  # no p95 point at this step: no latency
        (NINE - FIVE, NINE, 41, float("inf")),
    ]
    requests = prom.requests("POST")
    assert {r.path for r in requests} == {"/api/v1/query_range"} and len(requests) == 4
    assert requests[0].body == {
        "query": ['samples{tenant=~"pilot_a|pilot_b"}[5m]'],
        "start": ["1764060600.000"],
        "end": ["1764061200.000"],
        "step": ["5m"],
        "timeout": ["10s"],
    }


def test_no_tenants_reads_nothing(prom: PrometheusStandIn) -> None:
    [reading] = source(prom).read([], [(NINE - FIVE, NINE)])
    assert reading.samples == 0 and prom.requests() == []


def test_errors_become_one_sentence_naming_the_query(prom: PrometheusStandIn) -> None:
    prom.fail_next(400, recorded("error_bad_data"))
    with pytest.raises(OutsideServiceFailed) as bad:
        source(prom).read(["pilot_a"], [(NINE - FIVE, NINE)])
    assert str(bad.value) == (
        'Prometheus failed for the KPI query `samples`: HTTP 400 bad_data: invalid parameter "query": 1:27: parse '
        'error: unexpected "}" in label matching, expected string. Check zdm\'s settings for Prometheus.'
    )
    prom.answers = {"samples": recorded("instant_two_series")}
    with pytest.raises(OutsideServiceFailed, match=r"query `samples`: the query returned 2 series"):
        source(prom).read(["pilot_a"], [(NINE - FIVE, NINE)])


def test_5xx_is_retried_and_then_reported(prom: PrometheusStandIn) -> None:
    prom.answers = {"samples": recorded("scalar")}
    prom.fail_next(503, recorded("error_timeout"))
    [reading] = source(prom).read(["pilot_a"], [(NINE - FIVE, NINE)])
    assert reading.samples == 7
    for _ in range(3):
        prom.fail_next(503, recorded("error_timeout"))
    with pytest.raises(OutsideServiceFailed, match=r"`samples`: HTTP 503 timeout: query timed out in expression"):
        source(prom).read(["pilot_a"], [(NINE - FIVE, NINE)])


def test_no_answer_in_time_is_reported_after_retries() -> None:
    hung = HungServer()
    try:
        config = PrometheusConfig(url=hung.url, timeout_s=0.2, **QUERIES)
        with pytest.raises(OutsideServiceFailed, match=r"`samples`: no answer within 0.2 s\. Check"):
            PrometheusKpiSource(config, attempts=2, base_delay_s=0).read(["pilot_a"], [(NINE - FIVE, NINE)])
    finally:
        hung.stop()


class HungServer:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        import socket

        self._socket = socket.create_server(("127.0.0.1", 0))
        self._accepted: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self._accepted.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()
        for conn in self._accepted:
            conn.close()
