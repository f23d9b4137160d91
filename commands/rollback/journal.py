"""The local journal of rollbacks run while the state database was down (degraded mode).

One record per step, keyed by the rollback's uid, appended durably before the reply goes out. When the state
database answers again, the replay writes each journaled rollback there exactly once (the uid is unique in
``zdm.rollbacks``) and journals that it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["requested", "step", "refused", "replayed"]


@dataclass(frozen=True)
class JournalRecord:
    uid: str  # the rollback's uid: the key of every record of one rollback
    kind: Kind
    at: str  # ISO-8601 UTC
    data: Mapping[str, str | None] = field(default_factory=dict)


class RollbackJournal(Protocol):
    def claim(self, record: JournalRecord, *, request_id: str) -> bool:
        """Append a ``requested`` record unless a record already carries ``request_id`` (a Slack retry of the same
        request): True when appended. Atomic within this process."""
        ...

    def append(self, record: JournalRecord) -> None:
        """Append durably (written and fsynced before it returns)."""
        ...

    def records(self) -> Sequence[JournalRecord]: ...


def pending(records: Sequence[JournalRecord]) -> dict[str, list[JournalRecord]]:
    """The rollbacks journaled and not yet replayed: uid → its records, in order."""
    by_uid: dict[str, list[JournalRecord]] = {}
    replayed: set[str] = set()
    for record in records:
        if record.kind == "replayed":
            replayed.add(record.uid)
        else:
            by_uid.setdefault(record.uid, []).append(record)
    return {uid: items for uid, items in by_uid.items() if uid not in replayed and items[0].kind == "requested"}


def pending_refusals(records: Sequence[JournalRecord]) -> list[JournalRecord]:
    """Refusals journaled during the outage and not yet written to the audit log."""
    replayed = {r.uid for r in records if r.kind == "replayed"}
    return [r for r in records if r.kind == "refused" and r.uid not in replayed]
