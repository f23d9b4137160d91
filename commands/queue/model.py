"""One queue per target database, as data: who goes next, where an item stands, who may cancel it.

Schema deploys, backfills and schema rollbacks against one database run one at a time. The running item is 1st;
queued items follow in arrival order, except that schema rollbacks (an incident's mitigation) jump ahead of every
queued item that is not a rollback. Nothing here does I/O: the service loads the items and asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Kind(StrEnum):
    SCHEMA_ROLLBACK = "schema rollback"
    SCHEMA_DEPLOY = "schema deploy"
    BACKFILL = "backfill"


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # started; holds its database until its work finishes
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (ItemStatus.QUEUED, ItemStatus.RUNNING)


@dataclass(frozen=True)
class QueueItem:
    id: int
    database: str  # which database (host:port/name, no credentials): the queue's key
    env: str  # the environment the person named (`staging`, `preview`)
    kind: Kind
    requester: str
    requested_at: datetime
    args: str = ""  # the command's words, to start it later exactly as asked
    status: ItemStatus = ItemStatus.QUEUED
    ref: int | None = None  # the work it started: backfill run / schema deploy / rollback id
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None  # why it finished or was cancelled
    channel: str | None = None
    message_ts: str | None = None

    @property
    def label(self) -> str:
        """``backfill #7`` once started; ``queued backfill Q3`` before."""
        return f"{self.kind.value} #{self.ref}" if self.ref is not None else f"queued {self.kind.value} Q{self.id}"


def ordered(items: Sequence[QueueItem]) -> list[QueueItem]:
    """The active items of one database in the order they run: the running one, then rollbacks, then the rest,
    each group in arrival order."""
    active = [i for i in items if i.status.active]
    return sorted(active, key=lambda i: (i.status is not ItemStatus.RUNNING, i.kind is not Kind.SCHEMA_ROLLBACK, i.id))


def position(items: Sequence[QueueItem], item_id: int) -> int | None:
    """1 for the running item, 2 for the next, …; None when the item is not active."""
    for index, item in enumerate(ordered(items), start=1):
        if item.id == item_id:
            return index
    return None


def ahead_of(items: Sequence[QueueItem], item_id: int) -> QueueItem | None:
    line = ordered(items)
    for index, item in enumerate(line):
        if item.id == item_id:
            return line[index - 1] if index else None
    return None


def next_to_start(items: Sequence[QueueItem]) -> QueueItem | None:
    """The item to start now: the head of the line, unless something is running."""
    line = ordered(items)
    if not line or line[0].status is ItemStatus.RUNNING:
        return None
    return line[0]


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_sentence(items: Sequence[QueueItem], item_id: int) -> str:
    """``you are 2nd; starts when backfill #7 finishes`` (or that it runs now / left the queue)."""
    where = position(items, item_id)
    if where is None:
        return "it is no longer in the queue"
    if where == 1:
        return "it is running now"
    before = ahead_of(items, item_id)
    assert before is not None
    return f"you are {ordinal(where)}; starts when {before.label} finishes"


def card_line(items: Sequence[QueueItem], item_id: int) -> str:
    """The queued item's card: ``2nd in queue behind backfill #7``."""
    where, before = position(items, item_id), ahead_of(items, item_id)
    if where is None or before is None:
        return "no longer waiting"
    return f"{ordinal(where)} in queue behind {before.label}"


def may_cancel(item: QueueItem, *, actor: str, platform_lead: bool) -> bool:
    """The one who asked, or a platform lead; only while it waits (started work has its own cancel)."""
    return item.status is ItemStatus.QUEUED and (actor == item.requester or platform_lead)


def waited(item: QueueItem, now: datetime) -> str:
    """How long it has waited (or waited until it started), e.g. ``1 h 5 min``."""
    until = item.started_at if item.started_at is not None else now
    minutes = max(int((until - item.requested_at) / timedelta(minutes=1)), 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
