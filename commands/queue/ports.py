"""What the queue service needs: its store, and per kind of work a starter (the stage's own service)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commands.queue.model import ItemStatus, Kind, QueueItem


class QueueStore(Protocol):
    def enqueue(self, item: QueueItem, *, now: datetime) -> QueueItem: ...
    def claim_next(self, database: str, *, now: datetime) -> QueueItem | None: ...
    def active(self, database: str | None = None) -> list[QueueItem]: ...
    def get(self, item_id: int) -> QueueItem | None: ...
    def find(self, kind: Kind, ref: int) -> QueueItem | None: ...
    def set_ref(self, item_id: int, ref: int) -> None: ...
    def set_message(self, item_id: int, *, channel: str, ts: str) -> None: ...
    def finish(
        self, item_id: int, *, status: ItemStatus, reason: str, now: datetime, only_queued: bool = False
    ) -> bool: ...
    def exclusive(self, database: str, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...


class Starter(Protocol):
    """A stage that can start a queued item later, exactly as it was asked for."""

    def start_queued(self, item: QueueItem) -> tuple[int | None, str]:
        """Start the work as ``item.requester`` asked (``item.args``): its id (None when nothing started) and
        the sentence for the requester."""
        ...

    def find_started(self, item: QueueItem) -> int | None:
        """The work a start interrupted by a crash already created for ``item``, if any (never start it twice)."""
        ...

    def still_active(self, ref: int) -> bool:
        """True while the started work still uses its database."""
        ...

    def after_start(self, ref: int) -> None:
        """Outside the queue's lease: post the work's card, set it going."""
        ...


@dataclass
class Turn:
    """A request's place: ``waiting`` (queued, with ``sentence``), or the caller starts now and sets ``ref``."""

    item: QueueItem
    sentence: str = ""
    ref: int | None = None

    @property
    def waiting(self) -> bool:
        return self.item.status is ItemStatus.QUEUED


class WorkQueue(Protocol):
    """What a stage asks before starting work on a database (``QueueService``)."""

    def turn(
        self, *, kind: Kind, env: str, requester: str, args: str, defer: bool = False
    ) -> AbstractContextManager[Turn]: ...
    def announce(self, item_id: int) -> None: ...
    def start_now(self, item_id: int) -> str: ...
    def hold_for(self, *, kind: Kind, env: str, ref: int, requester: str) -> Turn: ...
    def done_with(self, *, kind: Kind, ref: int) -> None: ...
