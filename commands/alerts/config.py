"""``[alerts]`` in zdm.toml: alert rules evaluated by the scheduler, paging, and job-failure folding.

The runbook's rule is the default: error rate above 1 % for 5 minutes pages on-call (PagerDuty Events API v2) and
pauses any running rollout, saying why in its thread. A rule reads the KPI source (the same readings as the
rollout gates) over ``window`` for the tenants in ``scope`` every ``evaluate_every``; it fires only when the
condition held at every reading for the whole ``for`` duration, and resolves once when it clears.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from commands.rollout.config import Duration

Metric = Literal["error_rate", "p95_ms", "guardrail_breaches", "samples"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertRule(_Section):
    name: str = Field(pattern=r"^[a-z0-9_.-]{1,60}$")
    metric: Metric = "error_rate"
    above: float = 0.01  # fires when the metric is above this (error_rate is a fraction: 0.01 = 1 %)
    hold: Duration = Field(default=timedelta(minutes=5), alias="for")
    window: Duration = timedelta(minutes=5)  # each reading covers the last `window`
    min_samples: int = Field(default=50, ge=0)  # fewer requests in the window = no data
    scope: Literal["exposed", "all"] = "exposed"  # tenants with the flag on, or every tenant
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    page: bool = True  # PagerDuty trigger/resolve
    pause_rollout: bool = True  # pause running rollouts of the flag and post in their thread
    summary: str | None = None  # default: "<metric> above <threshold> for <for> (<scope> tenants)"


def _runbook_rules() -> tuple[AlertRule, ...]:
    return (AlertRule(name="error_rate", metric="error_rate", above=0.01),)


class PagerDutyConfig(_Section):
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    source: str = "zdm"  # the payload's `source`; the routing key is the setting ZDM_PAGERDUTY_ROUTING_KEY


class AlertsConfig(_Section):
    evaluate_every: Duration = timedelta(minutes=1)
    rules: tuple[AlertRule, ...] = Field(default_factory=_runbook_rules)
    pagerduty: PagerDutyConfig = PagerDutyConfig()
    fold_failures_for: Duration = timedelta(hours=24)  # identical job failures within this edit one message

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[AlertRule, ...]) -> tuple[AlertRule, ...]:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("every alert rule needs its own name")
        return rules
