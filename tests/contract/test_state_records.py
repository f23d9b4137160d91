"""AuditLog, the Slack request ledger and checklist ticks: the in-memory fakes and their Postgres adapters agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from commands.adapters.checklist_pg import PgChecklistTicks
from commands.adapters.state_pg import PgAuditLog, PgRequestLedger
from commands.checklist.ports import ChecklistTicks
from commands.ports import AuditEvent, AuditLog, RequestLedger
from tests.fakes import FakeClock, MemoryAudit, MemoryChecklistTicks, MemoryRequestLedger

NOW = FakeClock().now()
H = timedelta(hours=1)
Rows = Callable[[], list[tuple[Any, ...]]]  # (at, actor, action, subject, outcome, detail, correlation_id), in order


@pytest.fixture
def audit(backend: str, request: pytest.FixtureRequest) -> tuple[AuditLog, Rows]:
    if backend == "memory":
        memory = MemoryAudit()

        def memory_rows() -> list[tuple[Any, ...]]:
            return [
                (at, e.actor, e.action, e.subject, e.outcome, dict(e.detail), e.correlation_id)
                for at, e in zip(memory.times, memory.events, strict=True)
            ]

        return memory, memory_rows
    pool = request.getfixturevalue("state_pool")

    def pg_rows() -> list[tuple[Any, ...]]:
        with pool.connection() as conn:
            query = "select at, actor, action, subject, outcome, detail, correlation_id from zdm.audit_log order by id"
            return [tuple(r) for r in conn.execute(query).fetchall()]

    return PgAuditLog(pool), pg_rows


def test_audit_keeps_every_event_in_order_and_one_row_per_subject(audit: tuple[AuditLog, Rows]) -> None:
    log, rows = audit
    log.record(AuditEvent("U1", "rollback.flag_off", "pilot_a", "ok", {"step": 1}, "corr-1"), at=NOW)
    log.record_each(AuditEvent("U2", "rollout.flip", "", "ok", {"step": 2}), ["t1", "t2"], at=NOW + H)
    log.record_each(AuditEvent("U2", "rollout.flip", "", "ok"), [], at=NOW + H)  # nothing to record
    assert rows() == [
        (NOW, "U1", "rollback.flag_off", "pilot_a", "ok", {"step": 1}, "corr-1"),
        (NOW + H, "U2", "rollout.flip", "t1", "ok", {"step": 2}, None),
        (NOW + H, "U2", "rollout.flip", "t2", "ok", {"step": 2}, None),
    ]


@pytest.fixture
def ledger(backend: str, request: pytest.FixtureRequest) -> RequestLedger:
    return MemoryRequestLedger() if backend == "memory" else PgRequestLedger(request.getfixturevalue("state_pool"))


def test_the_ledger_sees_each_request_once_and_forgets_old_ones(ledger: RequestLedger) -> None:
    assert ledger.first_time(key="trigger:1", kind="command", at=NOW)
    assert not ledger.first_time(key="trigger:1", kind="command", at=NOW + H)  # a retry
    assert ledger.first_time(key="trigger:2", kind="action", at=NOW + 48 * H)
    assert ledger.purge(older_than=24 * H, now=NOW + 48 * H) == 1
    assert ledger.first_time(key="trigger:1", kind="command", at=NOW + 48 * H)  # forgotten: seen as new
    assert not ledger.first_time(key="trigger:2", kind="action", at=NOW + 48 * H)


@pytest.fixture
def ticks(backend: str, request: pytest.FixtureRequest) -> ChecklistTicks:
    return MemoryChecklistTicks() if backend == "memory" else PgChecklistTicks(request.getfixturevalue("state_pool"))


def test_the_latest_tick_of_each_item_wins_per_release(ticks: ChecklistTicks) -> None:
    assert ticks.latest("r1") == {}
    ticks.record(release="r1", item="backup", ticked=True, actor="U1", at=NOW)
    ticks.record(release="r1", item="security", ticked=True, actor="U2", at=NOW)
    ticks.record(release="r1", item="backup", ticked=False, actor="U3", at=NOW + H)
    ticks.record(release="r2", item="backup", ticked=True, actor="U4", at=NOW + H)
    latest = ticks.latest("r1")
    assert {item: (t.ticked, t.actor, t.at) for item, t in latest.items()} == {
        "backup": (False, "U3", NOW + H),
        "security": (True, "U2", NOW),
    }
    assert [t.actor for t in ticks.latest("r2").values()] == ["U4"]
