"""Cleanup requests (``commands.cleanup.ports.CleanupRepository``) and the release facts
(``commands.ports.ReleaseFacts``) in memory; the facts read the same fakes the other stages write, as
``PgReleaseFacts`` reads their tables."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from commands.alerts.model import AlertEvent
from commands.backfill.model import BackfillRun
from commands.cleanup.model import Cleanup, CleanupStatus
from commands.errors import UserError
from commands.rollback.model import Rollback
from commands.rollout.model import Rollout
from commands.schema.model import Deploy
from tests.fakes.audit import MemoryAudit
from tests.fakes.rollouts import MemoryRollouts


@dataclass
class MemoryCleanups:
    rows: dict[int, Cleanup] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)  # held by another worker

    def create(self, cleanup: Cleanup) -> Cleanup:
        if self.awaiting(cleanup.release) is not None:
            raise UserError(f"Release `{cleanup.release}` already has a cleanup awaiting approval.")
        created = replace(cleanup, id=max(self.rows, default=0) + 1)
        self.rows[created.id] = created
        return created

    def save(self, cleanup: Cleanup) -> None:
        if cleanup.id in self.rows:
            self.rows[cleanup.id] = cleanup

    def get(self, cleanup_id: int) -> Cleanup | None:
        return self.rows.get(cleanup_id)

    def awaiting(self, release: str) -> Cleanup | None:
        found = [c for c in self.rows.values() if c.release == release and c.status is CleanupStatus.AWAITING]
        return found[0] if found else None

    @contextmanager
    def exclusive(self, cleanup_id: int, *, wait_s: float = 0) -> Iterator[bool]:
        if cleanup_id in self.locked:
            yield False
            return
        self.locked.add(cleanup_id)
        try:
            yield True
        finally:
            self.locked.discard(cleanup_id)


@dataclass
class MemoryReleaseFacts:
    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    deploys: list[Deploy] = field(default_factory=list)
    runs: list[BackfillRun] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)

    def rollout_for(self, flag: str) -> Rollout | None:
        mine = [r for r in self.rollouts.rows.values() if r.flag == flag]
        return max(mine, key=lambda r: r.id, default=None)

    def rollbacks(self, flag: str, *, since: datetime | None = None) -> list[Rollback]:
        found = [r for r in self.rollouts.rollbacks.rows.values() if r.flag == flag]
        return sorted((r for r in found if since is None or r.created_at >= since), key=lambda r: r.created_at)

    def schema_deploys(self, files: Sequence[str]) -> list[Deploy]:
        applied = [d for d in self.deploys if d.status.value == "applied" and set(d.files) & set(files)]
        return sorted(applied, key=lambda d: d.id)

    def backfill_runs(self, job: str) -> list[BackfillRun]:
        return [run for run in self.runs if run.job == job]

    def audit_rows(self, *, subjects: Sequence[str], since: datetime | None) -> list[dict[str, Any]]:
        rows = zip(self.audit.times, self.audit.events, strict=True)
        return [
            {"id": n, "at": at, "actor": e.actor, "action": e.action, "subject": e.subject, "outcome": e.outcome,
             "detail": dict(e.detail), "correlation_id": e.correlation_id}
            for n, (at, e) in enumerate(rows, start=1)
            if e.subject in subjects and (since is None or at >= since)
        ]  # fmt: skip

    def alert_events(self, *, since: datetime | None) -> list[AlertEvent]:
        kept = [a for a in self.alerts if a.kind in ("firing", "resolved") and (since is None or a.at >= since)]
        return sorted(kept, key=lambda a: a.at)
