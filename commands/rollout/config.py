"""``[rollout]`` in zdm.toml: the cadence plans, the KPI gates and the approval timing.

The default is the runbook's plan (§4): T+0h ``demo_icupa``, T+12h ``pilot_*``, T+36h GA tenants under 500 orders
in the last 7 days, T+72h everyone, gated on error rate < 1 %, P95 < 350 ms and zero AI-guardrail breaches.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

_DURATION = re.compile(r"\A\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*(s|m|h|d)\s*\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SLUG_OR_GLOB = re.compile(r"\A[a-z0-9_*?-]{1,63}\Z")
MAX_DURATION_S = 3650 * 86_400


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"7d"`` (or a number of seconds) → ``timedelta``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_DURATION_S:
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{str(value)[:40]!r} is not a duration; write e.g. '30s', '15m', '12h' or '7d'")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_S:  # dates a step or the demo clock would reach must stay representable
        raise ValueError(f"{match.group(0).strip()!r} is longer than {MAX_DURATION_S // _UNITS['d']} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanStep(_Section):
    """One cadence step; exactly one cohort selector: ``slugs``, ``glob``, ``sql`` or ``all``."""

    name: str = Field(min_length=1, max_length=60)
    at: Duration
    slugs: tuple[str, ...] = ()
    glob: str | None = None
    sql: str | None = None  # a query on the target database returning tenant slugs; may use %(now)s
    all: bool = False
    approvals: int | None = Field(default=None, ge=1, le=5)  # default: 1, and 2 for an `all` step

    @model_validator(mode="after")
    def _one_selector(self) -> PlanStep:
        chosen = [bool(self.slugs), self.glob is not None, self.sql is not None, self.all]
        if sum(chosen) != 1:
            raise ValueError(f"step {self.name!r}: give exactly one of slugs, glob, sql or all = true")
        for item in (*self.slugs, *([self.glob] if self.glob else [])):
            if not SLUG_OR_GLOB.match(item):
                raise ValueError(f"step {self.name!r}: {item!r} is not a tenant slug or glob")
        if self.sql is not None and not re.match(r"^\s*(select|with)\b", self.sql, re.IGNORECASE):
            raise ValueError(f"step {self.name!r}: sql must be a query (select … / with …) returning tenant slugs")
        return self

    @property
    def required_approvals(self) -> int:
        return self.approvals if self.approvals is not None else (2 if self.all else 1)

    @property
    def selector(self) -> str:
        if self.slugs:
            return ", ".join(f"`{s}`" for s in self.slugs)
        if self.glob:
            return f"`{self.glob}`"
        if self.sql:
            return "SQL query"
        return "all tenants"


LOW_VOLUME_SQL = (
    "select t.slug from public.tenants t"
    " where t.tier = 'ga' and (select count(*) from public.orders o where o.tenant_id = t.id"
    " and o.created_at >= %(now)s - interval '7 days' and o.created_at < %(now)s) < 500"
)

RUNBOOK_PLAN = (
    PlanStep(name="demo tenant", at=timedelta(0), slugs=("demo_icupa",)),
    PlanStep(name="pilots", at=timedelta(hours=12), glob="pilot_*"),
    PlanStep(name="low-volume tenants", at=timedelta(hours=36), sql=LOW_VOLUME_SQL),
    PlanStep(name="all tenants", at=timedelta(hours=72), all=True),
)

DEFAULT_PLANS: dict[str, tuple[PlanStep, ...]] = {"runbook": RUNBOOK_PLAN}

DEFAULT_KPI_SQL = (
    "select count(*) as samples,"
    " count(*) filter (where status >= 500) as errors,"
    " percentile_cont(0.95) within group (order by latency_ms) as p95_ms,"
    " count(*) filter (where guardrail_breach) as guardrail_breaches"
    " from public.request_metrics"
    " where tenant_slug = any(%(tenants)s) and at >= %(since)s and at < %(until)s"
)


class GatesConfig(_Section):
    """KPI gates on the tenants already enabled. A gate holds when every ``window`` within ``hold_for`` passes."""

    query: str = DEFAULT_KPI_SQL  # returns samples, errors, p95_ms, guardrail_breaches for %(tenants)s in a window
    window: Duration = timedelta(minutes=5)
    hold_for: Duration = timedelta(minutes=15)
    min_samples: int = Field(default=50, ge=1)
    no_data: Literal["block", "pass"] = "block"
    error_rate_below: float = Field(default=0.01, gt=0, le=1)
    p95_ms_below: float = Field(default=350, gt=0)
    guardrail_breaches_at_most: int = Field(default=0, ge=0)
    check_every: Duration = timedelta(minutes=5)  # while waiting for the next step; a breach pauses the rollout

    @model_validator(mode="after")
    def _windows(self) -> GatesConfig:
        if self.window <= timedelta(0) or self.check_every <= timedelta(0):
            raise ValueError("window and check_every must be longer than 0s")
        if self.hold_for < self.window:
            raise ValueError("hold_for must be at least one window")
        if self.hold_for / self.window > 48:
            raise ValueError("hold_for may span at most 48 windows")
        return self

    @property
    def readings(self) -> int:
        """How many consecutive windows cover ``hold_for`` (rounded up)."""
        return max(1, math.ceil(self.hold_for / self.window))


class RolloutConfig(_Section):
    default_plan: str = "runbook"
    plans: dict[str, tuple[PlanStep, ...]] = Field(default_factory=lambda: dict(DEFAULT_PLANS))
    gates: GatesConfig = GatesConfig()
    remind_after: Duration = timedelta(hours=2)
    escalate_after: Duration = timedelta(hours=6)
    requires_backfill: str | None = None  # a [backfill.jobs] name that must be verified before a rollout starts
    requires_backfill_env: str = "production"

    @field_validator("plans")
    @classmethod
    def _ordered(cls, plans: dict[str, tuple[PlanStep, ...]]) -> dict[str, tuple[PlanStep, ...]]:
        for name, steps in plans.items():
            if not re.fullmatch(r"[a-z0-9_-]{1,40}", name):
                raise ValueError(f"plan name {name!r}: use lowercase letters, digits, '_' or '-'")
            if not steps:
                raise ValueError(f"plan {name!r} has no steps")
            offsets = [s.at for s in steps]
            if offsets != sorted(offsets):
                raise ValueError(f"plan {name!r}: steps must be in order of their `at` offsets")
        return plans

    @model_validator(mode="after")
    def _default_exists(self) -> RolloutConfig:
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not one of the plans ({', '.join(self.plans)})")
        if self.escalate_after <= self.remind_after:
            raise ValueError("escalate_after must be later than remind_after")
        return self


def plan_digest(steps: tuple[PlanStep, ...], gates: GatesConfig) -> str:
    """A short fingerprint of a plan and its gates, carried by every approval button (a changed plan → stale)."""
    payload = json.dumps(
        {"steps": [s.model_dump(mode="json") for s in steps], "gates": gates.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
