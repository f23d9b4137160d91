"""``[kpi]`` in zdm.toml: where the KPI readings of the rollout gates come from.

``source = "sql"`` (the default) runs ``rollout.gates.query`` on the target database. ``source = "prometheus"``
asks the Prometheus HTTP API at ``kpi.prometheus.url`` with one PromQL query per figure; each query may use
``$tenants`` (write ``{tenant=~"$tenants"}``) and ``$window`` (write ``[$window]``), see
the ``promql`` adapter.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
PLACEHOLDERS = ("tenants", "window")

DEFAULT_SAMPLES = 'sum(increase(http_requests_total{tenant=~"$tenants"}[$window]))'
DEFAULT_ERRORS = 'sum(increase(http_requests_total{tenant=~"$tenants", status=~"5.."}[$window]))'
DEFAULT_P95_MS = (
    "1000 * histogram_quantile(0.95, sum by (le) "
    '(increase(http_request_duration_seconds_bucket{tenant=~"$tenants"}[$window])))'
)
DEFAULT_GUARDRAIL_BREACHES = 'sum(increase(ai_guardrail_breaches_total{tenant=~"$tenants"}[$window]))'


def unknown_placeholders(query: str) -> list[str]:
    """Placeholders in ``query`` other than ``$tenants`` and ``$window`` (``$1`` in label_replace is not one)."""
    return [f"${name}" for name in PLACEHOLDER.findall(query) if name not in PLACEHOLDERS]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusConfig(_Section):
    """The Prometheus HTTP API and one PromQL query per KPI figure, each returning one series (or none)."""

    url: str = Field(pattern=r"^https?://\S+$")  # e.g. "http://prometheus:9090"
    timeout_s: float = Field(default=10, gt=0, le=300)
    samples: str = DEFAULT_SAMPLES  # requests in the window
    errors: str = DEFAULT_ERRORS  # failed requests in the window
    p95_ms: str = DEFAULT_P95_MS  # P95 latency in milliseconds (NaN / no series = no latency data)
    guardrail_breaches: str = DEFAULT_GUARDRAIL_BREACHES  # AI-guardrail breaches in the window

    @field_validator("samples", "errors", "p95_ms", "guardrail_breaches")
    @classmethod
    def _placeholders(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("the PromQL query is empty")
        unknown = unknown_placeholders(query)
        if unknown:
            raise ValueError(f"unknown placeholder {unknown[0]}; use $tenants and $window")
        if "$tenants" not in query:
            raise ValueError('the query must select the tenants, e.g. {tenant=~"$tenants"}')
        return query

    @property
    def queries(self) -> dict[str, str]:
        return {
            "samples": self.samples,
            "errors": self.errors,
            "p95_ms": self.p95_ms,
            "guardrail_breaches": self.guardrail_breaches,
        }


class KpiConfig(_Section):
    source: Literal["sql", "prometheus"] = "sql"
    prometheus: PrometheusConfig | None = None

    @model_validator(mode="after")
    def _prometheus_needs_section(self) -> KpiConfig:
        if self.source == "prometheus" and self.prometheus is None:
            raise ValueError("source = 'prometheus' needs a [kpi.prometheus] section with at least its url")
        return self
