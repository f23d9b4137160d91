"""Prometheus metrics for ``GET /metrics``, in a registry of their own (tests build a fresh one each).

Counters live in this process (Slack requests and acks, scheduler ticks). Rollouts by state, alert states and
backfill rows come from Postgres at scrape time, so every replica reports the same truth; a slow or unreachable database
leaves those families out (and sets ``zdm_state_up`` to 0) rather than hold the scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


@dataclass(frozen=True)
class BackfillFigure:
    run_id: int
    job: str
    env: str
    status: str
    done: int
    failed: int


@dataclass(frozen=True)
class StateFigures:
    rollouts: dict[str, int] = field(default_factory=dict)
    backfills: list[BackfillFigure] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)  # rule -> ok | pending | firing | no_data


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.slack_requests = Counter("zdm_slack_requests", "Verified Slack requests, by kind", ["kind"], registry=r)
        self.slack_acks = Counter("zdm_slack_acks", "HTTP answers to Slack, by status code", ["status"], registry=r)
        self.ack_seconds = Histogram(
            "zdm_slack_ack_seconds", "Seconds from a Slack request to its HTTP answer", buckets=ACK_BUCKETS, registry=r
        )
        self.ticks = Counter("zdm_scheduler_ticks", "Scheduler ticks run", registry=r)
        self.tick_lag = Gauge(
            "zdm_scheduler_tick_lag_seconds", "How late the last scheduler tick started after its due time", registry=r
        )
        self.last_tick = Gauge(
            "zdm_scheduler_last_tick_timestamp_seconds", "Unix time the last scheduler tick finished", registry=r
        )

    def tick(self, lag_s: float) -> None:
        """The metronome's observer: one tick ran, ``lag_s`` after it was due."""
        self.ticks.inc()
        self.tick_lag.set(max(lag_s, 0.0))
        self.last_tick.set(time.time())

    def watch_state(self, fetch: Callable[[], StateFigures], *, timeout_s: float = 3.0) -> None:
        """Report what ``fetch`` reads from Postgres at every scrape, giving up after ``timeout_s``."""
        self.registry.register(_StateCollector(fetch, timeout_s))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector:
    def __init__(self, fetch: Callable[[], StateFigures], timeout_s: float) -> None:
        self._fetch = fetch
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zdm-metrics")

    def describe(self) -> Iterable[Any]:
        return []  # figures are read at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("zdm_state_up", "1 if the state figures below could be read at this scrape")
        try:
            figures = self._pool.submit(self._fetch).result(timeout=self._timeout_s)
        except FutureTimeout:
            log.warning("metrics: reading rollout and backfill figures took over %.0f s; left out", self._timeout_s)
            figures = None
        except Exception as exc:
            log.warning("metrics: could not read rollout and backfill figures: %s", exc)
            figures = None
        up.add_metric([], 0 if figures is None else 1)
        yield up
        if figures is None:
            return
        rollouts = GaugeMetricFamily("zdm_rollouts", "Rollouts by state", labels=["state"])
        for state, count in sorted(figures.rollouts.items()):
            rollouts.add_metric([state], count)
        yield rollouts
        labels = ["run_id", "job", "env", "status"]
        done = GaugeMetricFamily("zdm_backfill_rows_done", "Rows done by running or paused backfills", labels=labels)
        failed = GaugeMetricFamily(
            "zdm_backfill_rows_failed", "Rows failed by running or paused backfills", labels=labels
        )
        for b in figures.backfills:
            key = [str(b.run_id), b.job, b.env, b.status]
            done.add_metric(key, b.done)
            failed.add_metric(key, b.failed)
        yield done
        yield failed
        alerts = GaugeMetricFamily("zdm_alert_firing", "1 while an alert rule is firing, by rule", labels=["rule"])
        states = GaugeMetricFamily(
            "zdm_alert_state", "Each alert rule's state (1 for its current one)", labels=["rule", "state"]
        )
        for rule, status in sorted(figures.alerts.items()):
            alerts.add_metric([rule], 1 if status == "firing" else 0)
            states.add_metric([rule, status], 1)
        yield alerts
        yield states
