"""OutboxStore: ``MemoryOutbox`` and ``PgOutbox`` agree on delivery order, backoff and one entry per marker."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commands.adapters.outbox_pg import PgOutbox
from commands.outbox.model import OutboxEntry, retry_at
from commands.outbox.ports import OutboxStore
from tests.fakes import FakeClock, MemoryOutbox

NOW = FakeClock().now()
S = timedelta(seconds=1)


@pytest.fixture
def outbox(backend: str, request: pytest.FixtureRequest) -> OutboxStore:
    return MemoryOutbox() if backend == "memory" else PgOutbox(request.getfixturevalue("state_pool"))


def entry(marker: str, *, after: timedelta = timedelta(0)) -> OutboxEntry:
    return OutboxEntry(marker=marker, path="ROLLBACKS.md", title=f"entry {marker}", text="text", created_at=NOW + after)


def test_an_entry_is_stored_once_per_marker(outbox: OutboxStore) -> None:
    assert outbox.add(entry("m1")) is True
    assert outbox.add(entry("m1")) is False
    stored = outbox.get("m1")
    assert stored is not None and stored.id and stored.attempts == 0 and stored.next_attempt_at == NOW
    assert outbox.find(stored.id[:8]) == [stored]
    assert outbox.get("nope") is None and outbox.next_due() == NOW


def test_due_entries_are_delivered_oldest_first(outbox: OutboxStore) -> None:
    outbox.add(entry("later", after=2 * S))
    outbox.add(entry("first"))
    outbox.add(entry("future", after=60 * S))
    delivered = outbox.deliver(NOW + 10 * S, lambda e: f"in {e.marker}", limit=10)
    assert [(e.marker, e.delivered_to, e.attempts) for e in delivered] == [
        ("first", "in first", 1),
        ("later", "in later", 1),
    ]
    assert [e.marker for e in outbox.recent(limit=2)] == ["future", "later"]
    assert outbox.next_due() == NOW + 60 * S


def test_a_failed_delivery_backs_off_and_stops_the_round(outbox: OutboxStore) -> None:
    outbox.add(entry("broken"))
    outbox.add(entry("next", after=S))

    def fail(e: OutboxEntry) -> str:
        raise RuntimeError(f"forge down\n for {e.marker}")

    [failed] = outbox.deliver(NOW + 5 * S, fail, limit=10)
    assert (failed.marker, failed.attempts, failed.last_error) == ("broken", 1, "forge down for broken")
    assert failed.next_attempt_at == retry_at(1, NOW + 5 * S) and failed.delivered_at is None
    [later] = outbox.deliver(NOW + 5 * S, lambda e: "ok", limit=10)  # the broken one waits for its backoff
    assert later.marker == "next"
    [retried] = outbox.deliver(retry_at(1, NOW + 5 * S), lambda e: "ok", marker="broken", limit=10)
    assert (retried.attempts, retried.delivered_to, retried.last_error) == (2, "ok", None)
    assert outbox.next_due() is None
