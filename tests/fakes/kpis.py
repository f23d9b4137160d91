"""The KPI source (``commands.ports.KpiSource``) answering every window with the same scripted figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from commands.rollout.gates import KpiReading


@dataclass
class ScriptedKpis:
    samples: int = 1000
    errors: int = 2
    p95_ms: float | None = 120.0
    guardrail_breaches: int = 0
    asked: list[tuple[str, ...]] = field(default_factory=list)  # the tenants of each read

    def read(self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]]) -> list[KpiReading]:
        self.asked.append(tuple(tenants))
        return [
            KpiReading(since, until, self.samples, self.errors, self.p95_ms, self.guardrail_breaches)
            for since, until in windows
        ]
