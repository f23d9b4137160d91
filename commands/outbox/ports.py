"""What the outbox needs from the outside: a durable store and a destination (local folder or a forge)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from commands.outbox.model import OutboxEntry

Deliver = Callable[[OutboxEntry], str]  # delivers one entry, returns where it is now ("in PR #12"); raises on failure


class OutboxStore(Protocol):
    def add(self, entry: OutboxEntry) -> bool:
        """Store ``entry`` durably; False when an entry with its marker is already stored."""
        ...

    def deliver(self, now: datetime, deliver: Deliver, *, marker: str | None = None, limit: int) -> list[OutboxEntry]:
        """Claim due entries one at a time (a claimed entry is invisible to other deliverers until its outcome is
        stored), deliver and record the outcome. Stops at the first failure. Returns the entries as updated."""
        ...

    def get(self, marker: str) -> OutboxEntry | None: ...

    def find(self, id_prefix: str) -> list[OutboxEntry]: ...

    def recent(self, *, limit: int) -> list[OutboxEntry]: ...

    def next_due(self) -> datetime | None:
        """When the earliest undelivered entry is due (None: nothing waits)."""
        ...


class Destination(Protocol):
    """Where entries end up: ``deliver`` is idempotent by the entry's marker."""

    def deliver(self, entry: OutboxEntry) -> str: ...

    def describe(self) -> str: ...
