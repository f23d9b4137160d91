"""The audit trail and the Slack request ledger in memory (``PgAuditLog``, ``PgRequestLedger``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from commands.ports import AuditEvent


@dataclass
class MemoryAudit:
    events: list[AuditEvent] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)  # when each event was recorded, in step with ``events``

    def record(self, event: AuditEvent, *, at: datetime) -> None:
        self.events.append(event)
        self.times.append(at)

    def record_each(self, event: AuditEvent, subjects: Sequence[str], *, at: datetime) -> None:
        self.events.extend(replace(event, subject=subject) for subject in subjects)
        self.times.extend(at for _ in subjects)

    def actions(self) -> list[str]:
        return [e.action for e in self.events]


@dataclass
class MemoryRequestLedger:
    received: dict[str, datetime] = field(default_factory=dict)  # request key → first seen
    retries: dict[str, int] = field(default_factory=dict)

    def first_time(self, *, key: str, kind: str, at: datetime) -> bool:
        if key in self.received:
            self.retries[key] = self.retries.get(key, 0) + 1
            return False
        self.received[key] = at
        return True

    def purge(self, *, older_than: timedelta, now: datetime) -> int:
        old = [key for key, at in self.received.items() if at < now - older_than]
        for key in old:
            del self.received[key]
            self.retries.pop(key, None)
        return len(old)
