"""KPI readings from the Prometheus HTTP API (``[kpi] source = "prometheus"`` in zdm.toml).

One PromQL query per figure (samples, errors, p95_ms, guardrail_breaches) from ``[kpi.prometheus]``, with
``$tenants`` and ``$window`` filled in (``commands.adapters.promql``). Several consecutive windows of equal length
— what the rollout gates ask for — are read with one range query per figure (``/api/v1/query_range``, step = the
window length, one point at each window's end); anything else with instant queries (``/api/v1/query`` at each
window's end). Queries are POSTed as forms (the API takes GET or POST), so a cohort of thousands of tenants
fits. An empty result is no data (0 samples); NaN latency is no latency. Timeouts, 429 and 5xx are retried;
what still fails becomes one plain sentence (``OutsideServiceFailed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from commands.adapters.http_retry import send_with_retry
from commands.adapters.promql import (
    PromResponseError,
    count,
    latency,
    parse_instant,
    parse_range,
    prom_duration,
    prom_time,
    render,
    step_windows,
)
from commands.errors import OutsideServiceFailed
from commands.kpi_config import PrometheusConfig
from commands.rollout.gates import KpiReading

FIGURES = ("samples", "errors", "p95_ms", "guardrail_breaches")


class PrometheusKpiSource:
    def __init__(
        self,
        config: PrometheusConfig,
        *,
        attempts: int = 3,
        base_delay_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._queries = config.queries
        self._timeout_s = config.timeout_s
        self._attempts, self._base_delay_s = attempts, base_delay_s
        self._client = httpx.Client(
            base_url=config.url.rstrip("/"),
            timeout=config.timeout_s,
            headers={"Accept": "application/json", "User-Agent": "zdm"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def read(self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]]) -> list[KpiReading]:
        if not tenants or not windows:
            return [_reading(since, until, {}) for since, until in windows]
        step = step_windows(windows)
        if step is not None:
            return self._read_range(tenants, windows, step)
        readings = []
        for since, until in windows:
            values = {}
            for name in FIGURES:
                payload = self._post("/api/v1/query", name, self._params(name, tenants, since, until))
                try:
                    values[name] = parse_instant(payload)
                except PromResponseError as exc:
                    raise _failed(name, str(exc)) from exc
            readings.append(_reading(since, until, values))
        return readings

    def _read_range(
        self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]], step: timedelta
    ) -> list[KpiReading]:
        series: dict[str, dict[int, float]] = {}
        for name in FIGURES:
            params = {
                "query": render(self._queries[name], tenants=tenants, window=step),
                "start": prom_time(windows[0][1]),
                "end": prom_time(windows[-1][1]),
                "step": prom_duration(step),
                "timeout": f"{self._timeout_s:g}s",
            }
            payload = self._post("/api/v1/query_range", name, params)
            try:
                series[name] = parse_range(payload)
            except PromResponseError as exc:
                raise _failed(name, str(exc)) from exc
        readings = []
        for since, until in windows:
            at = round(until.timestamp() * 1000)
            readings.append(_reading(since, until, {name: points.get(at) for name, points in series.items()}))
        return readings

    def _params(self, name: str, tenants: Sequence[str], since: datetime, until: datetime) -> dict[str, str]:
        return {
            "query": render(self._queries[name], tenants=tenants, window=until - since),
            "time": prom_time(until),
            "timeout": f"{self._timeout_s:g}s",
        }

    def _post(self, path: str, name: str, params: dict[str, str]) -> Any:
        # POST with a form body, as the API allows: a cohort of thousands of tenants makes a long query
        try:
            response = send_with_retry(
                self._client,
                "POST",
                path,
                attempts=self._attempts,
                base_delay_s=self._base_delay_s,
                data=params,
            )
        except httpx.TimeoutException as exc:
            raise _failed(name, f"no answer within {self._timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise _failed(name, f"no answer ({type(exc).__name__})") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            # the API answers 400 (bad query), 422 (execution error) and 503 (timeout) with an error document
            detail = _error_detail(payload) or response.text[:200].strip()
            raise _failed(name, f"HTTP {response.status_code} {detail}".strip())
        if payload is None:
            raise _failed(name, "the answer is not JSON")
        return payload


def _reading(since: datetime, until: datetime, values: dict[str, float | None]) -> KpiReading:
    counts = {}
    for name in ("samples", "errors", "guardrail_breaches"):
        try:
            counts[name] = count(values.get(name))
        except PromResponseError as exc:
            raise _failed(name, str(exc)) from exc
    return KpiReading(
        since=since,
        until=until,
        samples=counts["samples"],
        errors=counts["errors"],
        p95_ms=latency(values.get("p95_ms")),
        guardrail_breaches=counts["guardrail_breaches"],
    )


def _error_detail(payload: object) -> str:
    if isinstance(payload, dict) and payload.get("status") == "error":
        return f"{payload.get('errorType') or 'error'}: {str(payload.get('error') or '').strip()}"
    return ""


def _failed(name: str, why: str) -> OutsideServiceFailed:
    return OutsideServiceFailed(service="Prometheus", what=f"the KPI query `{name}`", why=why)
