"""The application database (``commands.ports.TargetDatabase``) as a set of tenant slugs."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from commands.rollout.config import PlanStep


@dataclass
class MemoryTarget:
    tenants: set[str] = field(default_factory=lambda: {"demo_icupa", "pilot_a", "pilot_b"})
    statements: list[str] = field(default_factory=list)
    applied_files: list[str] = field(default_factory=list)

    def tenant_exists(self, slug: str) -> bool:
        return slug in self.tenants

    def find_tenants(self, pattern: str, *, limit: int) -> list[str]:
        return sorted(t for t in self.tenants if fnmatch.fnmatchcase(t, pattern))[:limit]

    def resolve_cohort(self, step: PlanStep, *, now: datetime) -> list[str]:
        if step.sql is not None:
            raise NotImplementedError("MemoryTarget cannot run a cohort's SQL; use slugs, glob or all")
        if step.all:
            return sorted(self.tenants)
        if step.glob is not None:
            return self.find_tenants(step.glob, limit=len(self.tenants))
        return sorted(t for t in set(step.slugs) if t in self.tenants)

    def run_sql(self, sql: str) -> str:
        self.statements.append(sql)
        return "done"

    def apply_rollback_file(self, path: Path, *, version: str, lock_timeout_ms: int, text: str | None = None) -> str:
        self.applied_files.append(path.name)
        return f"applied {path.name}"
