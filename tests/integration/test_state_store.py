"""The bot's own schema on real Postgres: migrations, append-only audit, rollback leases (the ports' behaviour is
in tests/contract/)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from commands.adapters.locks import PgLocks, lease_name
from commands.adapters.state_pg import ROLLBACK_LOCK_CLASS, PgAuditLog, PgRollbackRepository
from commands.adapters.store_pg import migrate_state, pending_state_migrations
from commands.ports import AuditEvent
from commands.rollback.model import Rollback, RollbackRequest, initial_steps
from tests.conftest import Databases
from tests.fakes import FakeClock


@pytest.fixture
def pool(dbs: Databases) -> Any:
    with ConnectionPool(dbs.state_url, min_size=1, max_size=4) as p:
        yield p


def test_migrations_are_idempotent(dbs: Databases) -> None:
    assert migrate_state(dbs.state_url) == []  # the fixture already migrated
    with dbs.state() as conn:
        assert pending_state_migrations(conn) == []
        assert conn.execute("select count(*) from zdm.schema_version").fetchone()[0] >= 1


def test_concurrent_first_start_applies_each_migration_once(pg: Any) -> None:
    from bot.embedded import ensure_database

    ensure_database(pg.url("postgres"), "state_race")
    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate_state(pg.url("state_race")))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3  # no thread died
    applied = [v for r in results for v in r]
    assert sorted(applied) == sorted(set(applied)) and applied  # every version applied exactly once


def test_audit_log_refuses_update_delete_and_truncate(dbs: Databases, pool: Any) -> None:
    PgAuditLog(pool).record(AuditEvent("U1", "rollback.flag_off", "pilot_a", "ok"), at=FakeClock().now())
    for statement in (
        "update zdm.audit_log set outcome = 'forged'",
        "delete from zdm.audit_log",
        "truncate zdm.audit_log",
    ):
        with dbs.state() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
    with dbs.state() as conn:
        assert conn.execute("select outcome from zdm.audit_log").fetchall() == [("ok",)]


@pytest.fixture
def locks(dbs: Databases) -> Iterator[PgLocks]:
    held = PgLocks(dbs.state_url, max_size=4)
    yield held
    held.close()


def new_rollback(tenant: str = "pilot_a") -> Rollback:
    request = RollbackRequest(tenant, "why")
    return Rollback(0, tenant, "f", "U1", "why", None, FakeClock().now(), initial_steps(request), correlation_id="r")


def test_rollback_lock_is_exclusive_across_sessions_and_released(dbs: Databases, pool: Any, locks: PgLocks) -> None:
    repo = PgRollbackRepository(pool, locks=locks)
    created = repo.create(new_rollback())
    assert repo.get(created.id) == created
    held = "select count(*) from zdm.leases where name = %s and expires_at > now()"
    name = lease_name((ROLLBACK_LOCK_CLASS, created.id))
    with repo.exclusive(created.id) as first:
        with repo.exclusive(created.id) as second, repo.exclusive(created.id, wait_s=0.2) as waited:
            assert first and not second and not waited
        with dbs.state() as observer:
            assert observer.execute(held, (name,)).fetchone()[0] == 1
    with dbs.state() as observer:
        assert observer.execute(held, (name,)).fetchone()[0] == 0
    assert repo.unfinished() == [created.id]
    assert repo.record_decision(rollback_id=created.id, decision="apply", actor="U2") is False  # no schema step
