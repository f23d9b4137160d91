"""Rollback records (``commands.rollback.ports.RollbackRepository``) in memory, keeping ``PgRollbackRepository``'s
rules: one unfinished rollback per tenant, ``save`` writes only the progress fields, a decision is stored once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from commands.errors import RollbackInProgress
from commands.rollback.model import Rollback


@dataclass
class MemoryRollbacks:
    rows: dict[int, Rollback] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)  # held by another worker

    def create(self, rollback: Rollback) -> Rollback:
        active = [r.id for r in self.rows.values() if r.tenant == rollback.tenant and r.finished_at is None]
        if active:
            raise RollbackInProgress(tenant=rollback.tenant, rollback_id=max(active))
        created = replace(rollback, id=max(self.rows, default=0) + 1)
        self.rows[created.id] = created
        return created

    def save(self, rollback: Rollback) -> None:
        row = self.rows.get(rollback.id)
        if row is not None:
            self.rows[rollback.id] = replace(
                row,
                steps=rollback.steps,
                channel=rollback.channel,
                message_ts=rollback.message_ts,
                finished_at=rollback.finished_at,
            )

    def get(self, rollback_id: int) -> Rollback | None:
        return self.rows.get(rollback_id)

    def record_decision(self, *, rollback_id: int, decision: str, actor: str, flag_off_all: bool = False) -> bool:
        row = self.rows.get(rollback_id)
        if row is None or row.schema_decision is not None or not row.schema_version or row.finished_at:
            return False
        self.rows[rollback_id] = replace(
            row,
            schema_decision=decision,  # type: ignore[arg-type]
            decided_by=actor,
            schema_flag_off_all=flag_off_all,
        )
        return True

    def unfinished(self) -> list[int]:
        return sorted(i for i, r in self.rows.items() if r.finished_at is None)

    @contextmanager
    def exclusive(self, rollback_id: int, *, wait_s: float = 0) -> Iterator[bool]:
        if rollback_id in self.locked:
            yield False
            return
        self.locked.add(rollback_id)
        try:
            yield True
        finally:
            self.locked.discard(rollback_id)

    def recent(self, *, tenant: str | None = None, limit: int = 10) -> list[Rollback]:
        rows = [r for r in self.rows.values() if tenant is None or r.tenant == tenant]
        return sorted(rows, key=lambda r: r.id, reverse=True)[:limit]
