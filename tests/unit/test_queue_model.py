"""The work queue's pure decisions: order (rollbacks jump ahead of queued work, never of running work), position,
the sentence a requester reads, who may cancel."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from commands.queue.model import (
    ItemStatus,
    Kind,
    QueueItem,
    card_line,
    may_cancel,
    next_to_start,
    ordered,
    ordinal,
    position,
    waited,
    waiting_sentence,
)

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def item(item_id: int, kind: Kind = Kind.BACKFILL, *, status: ItemStatus = ItemStatus.QUEUED, ref: int | None = None,
         requester: str = "U1") -> QueueItem:  # fmt: skip
    return QueueItem(item_id, "h:5432/app", "staging", kind, requester, T0 + timedelta(minutes=item_id),
                     status=status, ref=ref)  # fmt: skip


def test_running_first_then_rollbacks_then_arrival_order() -> None:
    items = [
        item(4, Kind.SCHEMA_ROLLBACK),
        item(2, Kind.SCHEMA_DEPLOY),
        item(1, status=ItemStatus.RUNNING, ref=14),
        item(3),
        item(5, Kind.SCHEMA_ROLLBACK),
        item(0, status=ItemStatus.DONE),
    ]
    assert [i.id for i in ordered(items)] == [1, 4, 5, 2, 3]
    assert position(items, 4) == 2 and position(items, 3) == 5 and position(items, 0) is None
    assert next_to_start(items) is None  # something runs: nothing starts


def test_the_head_starts_when_nothing_runs_and_a_rollback_is_the_head() -> None:
    items = [item(2, Kind.SCHEMA_DEPLOY), item(3, Kind.SCHEMA_ROLLBACK)]
    head = next_to_start(items)
    assert head is not None and head.id == 3
    assert next_to_start([]) is None


def test_the_sentence_names_the_item_ahead_by_its_work_or_its_queue_number() -> None:
    items = [item(1, Kind.SCHEMA_DEPLOY, status=ItemStatus.RUNNING, ref=14), item(2), item(3)]
    assert waiting_sentence(items, 2) == "you are 2nd; starts when schema deploy #14 finishes"
    assert waiting_sentence(items, 3) == "you are 3rd; starts when queued backfill Q2 finishes"
    assert waiting_sentence(items, 1) == "it is running now"
    assert card_line(items, 2) == "2nd in queue behind schema deploy #14"
    assert card_line(items, 1) == "no longer waiting"


def test_only_the_requester_or_a_platform_lead_cancels_and_only_while_it_waits() -> None:
    waiting = item(2, requester="U1")
    assert may_cancel(waiting, actor="U1", platform_lead=False)
    assert may_cancel(waiting, actor="U9", platform_lead=True)
    assert not may_cancel(waiting, actor="U9", platform_lead=False)
    assert not may_cancel(replace(waiting, status=ItemStatus.RUNNING), actor="U1", platform_lead=True)


def test_ordinals_and_wait_times() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    queued = item(0)
    assert waited(queued, T0 + timedelta(minutes=65)) == "1 h 5 min"
    assert waited(replace(queued, started_at=T0 + timedelta(minutes=3)), T0 + timedelta(hours=5)) == "3 min"
