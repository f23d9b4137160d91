"""The outbox store (``commands.outbox.ports.OutboxStore``) in memory, with ``PgOutbox``'s delivery rules: due
entries oldest first, one at a time, stop at the first failure and back off; an entry is stored once per marker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from commands.outbox.model import OutboxEntry, retry_at
from commands.outbox.ports import Deliver


@dataclass
class MemoryOutbox:
    entries: dict[str, OutboxEntry] = field(default_factory=dict)  # marker → entry, in insertion order

    def add(self, entry: OutboxEntry) -> bool:
        if entry.marker in self.entries:
            return False
        due = entry.next_attempt_at or entry.created_at
        self.entries[entry.marker] = replace(entry, id=str(uuid.uuid4()), attempts=0, next_attempt_at=due)
        return True

    def deliver(self, now: datetime, deliver: Deliver, *, marker: str | None = None, limit: int) -> list[OutboxEntry]:
        done: list[OutboxEntry] = []
        for _ in range(limit):
            due = [
                e
                for e in self.entries.values()
                if e.delivered_at is None
                and e.next_attempt_at is not None
                and e.next_attempt_at <= now
                and marker in (None, e.marker)
            ]
            if not due:
                break
            entry = min(due, key=lambda e: (e.created_at, e.id))
            try:
                where = deliver(entry)
            except Exception as exc:
                why = " ".join(str(exc).split())[:300] or type(exc).__name__
                failed = replace(
                    entry,
                    attempts=entry.attempts + 1,
                    next_attempt_at=retry_at(entry.attempts + 1, now),
                    last_error=why,
                )
                self.entries[entry.marker] = failed
                done.append(failed)
                break
            delivered = replace(
                entry, attempts=entry.attempts + 1, delivered_at=now, delivered_to=where, last_error=None
            )
            self.entries[entry.marker] = delivered
            done.append(delivered)
        return done

    def get(self, marker: str) -> OutboxEntry | None:
        return self.entries.get(marker)

    def find(self, id_prefix: str) -> list[OutboxEntry]:
        found = [e for e in self.entries.values() if e.id.startswith(id_prefix)]
        return sorted(found, key=lambda e: e.created_at)[:2]

    def recent(self, *, limit: int) -> list[OutboxEntry]:
        return sorted(self.entries.values(), key=lambda e: (e.created_at, e.id), reverse=True)[:limit]

    def next_due(self) -> datetime | None:
        return min(
            (e.next_attempt_at for e in self.entries.values() if e.delivered_at is None and e.next_attempt_at),
            default=None,
        )
