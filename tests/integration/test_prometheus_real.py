"""The Prometheus KPI source against a real Prometheus (Debian's package, unpacked into .venv/prometheus by
``./dev.sh setup``) scraping a local exporter this test controls, with zdm's default PromQL queries.

The exporter serves per-tenant request counters (by status), a latency histogram and AI-guardrail breaches.
The counters stay at 0 for a few scrapes, then jump once. The reading windows are cut at the scrape timestamps
Prometheus recorded, so ``increase()`` sees samples exactly at both window edges and does not extrapolate: the
readings must equal what the exporter served.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from commands.adapters.kpi_prometheus import PrometheusKpiSource
from commands.kpi_config import PrometheusConfig

BINARY = Path(__file__).resolve().parents[2] / ".venv" / "prometheus" / "usr" / "bin" / "prometheus"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUCKETS = ("0.1", "0.25", "0.5", "1.0", "+Inf")

pytestmark = pytest.mark.skipif(
    not BINARY.exists(), reason=f"Prometheus is not installed at {BINARY} (./dev.sh setup installs Debian's package)"
)


@dataclass
class Tenant:
    ok: int = 0
    failed: int = 0
    buckets: tuple[int, ...] = (0, 0, 0, 0, 0)  # cumulative, as in the exposition format
    breaches: int = 0


@dataclass(eq=False)  # hashable by identity: prometheus-client keeps collectors in a dict
class Exporter:
    """What the app would expose on /metrics, rendered by prometheus-client; ``set`` swaps all values at once."""

    tenants: dict[str, Tenant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, **tenants: Tenant) -> None:
        with self.lock:
            self.tenants = dict(tenants)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            tenants = dict(self.tenants)
        requests = CounterMetricFamily("http_requests", "Requests served", labels=["tenant", "status"])
        latency = HistogramMetricFamily("http_request_duration_seconds", "Request latency", labels=["tenant"])
        breaches = CounterMetricFamily("ai_guardrail_breaches", "AI-guardrail breaches", labels=["tenant"])
        for slug, t in tenants.items():
            requests.add_metric([slug, "200"], t.ok)
            requests.add_metric([slug, "500"], t.failed)
            latency.add_metric([slug], buckets=list(zip(BUCKETS, t.buckets, strict=True)), sum_value=0.0)
            breaches.add_metric([slug], t.breaches)
        yield from (requests, latency, breaches)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def exporter() -> Iterator[tuple[Exporter, int]]:
    state = Exporter()
    registry = CollectorRegistry()
    registry.register(state)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            data = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def prometheus(exporter: tuple[Exporter, int], tmp_path: Path) -> Iterator[str]:
    _, target_port = exporter
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(BINARY),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, what="Prometheus to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def poll(check: Any, *, what: str, deadline_s: float = 60) -> Any:
    """Poll the external process until ``check()`` is truthy (a deadline, not a sleep standing in for a wait)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def raw_samples(url: str, selector: str) -> list[tuple[int, float]]:
    """The samples Prometheus stored for one series in the last minute: (timestamp ms, value)."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": f"{selector}[1m]"}, timeout=5).json()
    result = answer["data"]["result"]
    return [(round(float(ts) * 1000), float(v)) for ts, v in result[0]["values"]] if result else []


def at_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def test_readings_match_what_the_exporter_served(exporter: tuple[Exporter, int], prometheus: str) -> None:
    state, _ = exporter
    series = 'http_requests_total{tenant="pilot_a",status="200"}'
    state.set(pilot_a=Tenant(), pilot_b=Tenant())
    poll(lambda: len(raw_samples(prometheus, series)) >= 4, what="four scrapes of zero counters")
    # pilot_a: 200 requests, 4 failed, 100 ≤ 0.1 s, 80 ≤ 0.25 s, 20 ≤ 0.5 s, one guardrail breach; pilot_b: 100 fast
    state.set(
        pilot_a=Tenant(ok=196, failed=4, buckets=(100, 180, 200, 200, 200), breaches=1),
        pilot_b=Tenant(ok=100, buckets=(100, 100, 100, 100, 100)),
    )

    def jumped() -> tuple[int, int] | None:
        samples = raw_samples(prometheus, series)
        before = [ts for ts, value in samples if value == 0]
        after = [ts for ts, value in samples if value == 196]
        if not before or len(after) < 1:
            return None
        t0, t1 = max(before), min(after)
        return (t0, t1) if samples[-1][0] >= t1 + (t1 - t0) and t0 - (t1 - t0) >= samples[0][0] else None

    t0_ms, t1_ms = poll(jumped, what="the jump to be scraped, and one more window after it")
    t0, t1 = at_ms(t0_ms), at_ms(t1_ms)
    width = t1 - t0
    source = PrometheusKpiSource(PrometheusConfig(url=prometheus))  # zdm's default PromQL queries
    try:
        # instant queries: one window, both tenants, then one tenant, then a tenant Prometheus never saw
        [both] = source.read(["pilot_a", "pilot_b"], [(t0, t1)])
        assert (both.samples, both.errors, both.guardrail_breaches) == (300, 4, 1)
        assert both.error_rate == pytest.approx(4 / 300)
        assert both.p95_ms == pytest.approx(312.5)  # rank 285 of 300: a quarter into the 0.25–0.5 s bucket
        [alone] = source.read(["pilot_a"], [(t0, t1)])
        assert (alone.samples, alone.errors) == (200, 4) and alone.error_rate == pytest.approx(0.02)
        assert alone.p95_ms == pytest.approx(375.0)  # rank 190 of 200: halfway into the 0.25–0.5 s bucket
        cohort = ["pilot_a", "pilot_b", *(f"tenant-{i:05d}" for i in range(5000))]  # a long query: POSTed
        [many] = source.read(cohort, [(t0, t1)])
        assert (many.samples, many.errors) == (300, 4) and many.p95_ms == pytest.approx(312.5)
        [ghost] = source.read(["ghost"], [(t0, t1)])
        assert (ghost.samples, ghost.errors, ghost.p95_ms, ghost.guardrail_breaches) == (0, 0, None, 0)

        # a range query: three consecutive windows, the jump in the middle one
        windows = [(t0 - width, t0), (t0, t1), (t1, t1 + width)]
        readings = source.read(["pilot_a", "pilot_b"], windows)
        assert [(r.since, r.until) for r in readings] == windows
        assert [(r.samples, r.errors, r.guardrail_breaches) for r in readings] == [(0, 0, 0), (300, 4, 1), (0, 0, 0)]
        assert [r.p95_ms for r in readings] == [None, pytest.approx(312.5), None]  # no requests: NaN, no latency
    finally:
        source.close()
