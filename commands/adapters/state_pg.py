"""The bot's own state in Postgres: audit trail, Slack request ledger and rollback records."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from commands.adapters.exposure_pg import lock_flag
from commands.adapters.locks import PgLocks
from commands.errors import RollbackInProgress
from commands.ports import AuditEvent
from commands.rollback.model import Rollback, Step, StepResult, StepStatus

ROLLBACK_LOCK_CLASS = 0x7A64  # first key of the two-key advisory lock on a rollback id


class PgAuditLog:
    """Append-only audit rows (``zdm.audit_log``; a trigger refuses UPDATE, DELETE and TRUNCATE)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def record(self, event: AuditEvent, *, at: datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "insert into zdm.audit_log (at, actor, action, subject, outcome, detail, correlation_id)"
                " values (%s, %s, %s, %s, %s, %s, %s)",
                (
                    at,
                    event.actor,
                    event.action,
                    event.subject,
                    event.outcome,
                    Jsonb(dict(event.detail)),
                    event.correlation_id,
                ),
            )

    def record_each(self, event: AuditEvent, subjects: Sequence[str], *, at: datetime) -> None:
        if not subjects:
            return
        # One parameter for all subjects (slugs never contain a newline): binding a 10 000-element array costs
        # more on the client than the insert costs on the server.
        with self._pool.connection() as conn:
            conn.execute(
                "insert into zdm.audit_log (at, actor, action, subject, outcome, detail, correlation_id)"
                " select %s, %s, %s, subject, %s, %s, %s from unnest(string_to_array(%s, E'\\n')) as subject",
                (
                    at,
                    event.actor,
                    event.action,
                    event.outcome,
                    Jsonb(dict(event.detail)),
                    event.correlation_id,
                    "\n".join(subjects),
                ),
            )


class PgRequestLedger:
    """Remembers Slack requests already acted on, shared by every replica through Postgres."""

    def __init__(self, pool: ConnectionPool[Any], *, wait_s: float = 2.0) -> None:
        self._pool = pool
        self.wait_s = wait_s  # the first database call of every Slack request: give up before Slack's 3 s

    def first_time(self, *, key: str, kind: str, at: datetime) -> bool:
        """Record ``key``; True the first time it is seen, False for any retry or duplicate. Raises
        ``PoolTimeout`` when no connection can be had within ``wait_s`` (the database is down)."""
        # One round trip before the ack, and no wait for the WAL flush (synchronous_commit off for this one
        # transaction: ~0.3 ms instead of ~3 ms). Only a Postgres crash within a fraction of a second could forget
        # the row, and Slack retries only requests whose ack came late; every other write keeps its durable commit.
        with self._pool.connection(timeout=self.wait_s) as conn:
            row = conn.execute(
                "with fast as (select set_config('synchronous_commit', 'off', true))"
                " insert into zdm.slack_requests (request_key, kind, received_at)"
                " select %s, %s, %s from fast"
                " on conflict (request_key) do update set retries = zdm.slack_requests.retries + 1"
                " returning retries",
                (key, kind, at),
            ).fetchone()
        return row is not None and row[0] == 0

    def purge(self, *, older_than: timedelta, now: datetime) -> int:
        """Forget requests older than Slack's retry horizon; return how many rows went."""
        with self._pool.connection() as conn:
            cur = conn.execute("delete from zdm.slack_requests where received_at < %s", (now - older_than,))
            return int(cur.rowcount)


_COLUMNS = (
    "id, tenant, flag, requested_by, reason, schema_version, schema_file, schema_decision, decided_by,"
    " steps, channel, message_ts, correlation_id, created_at, finished_at, uid::text, schema_sha256,"
    " schema_flag_off_all"
)


class PgRollbackRepository:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def create(self, rollback: Rollback) -> Rollback:
        try:
            with self._pool.connection() as conn, conn.transaction():
                lock_flag(conn, rollback.flag)  # waits for a flip's chunk in progress; later chunks skip the tenant
                row = self._insert(conn, rollback)
        except psycopg.errors.UniqueViolation:
            active = self.recent(tenant=rollback.tenant, limit=1)
            raise RollbackInProgress(tenant=rollback.tenant, rollback_id=active[0].id if active else None) from None
        assert row is not None
        return replace(rollback, id=int(row[0]))

    @staticmethod
    def _insert(conn: psycopg.Connection[Any], rollback: Rollback) -> Any:
        return conn.execute(
            "insert into zdm.rollbacks (tenant, flag, requested_by, reason, schema_version, schema_file,"
            " steps, correlation_id, created_at, uid, schema_sha256)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
            (
                rollback.tenant,
                rollback.flag,
                rollback.requested_by,
                rollback.reason,
                rollback.schema_version,
                rollback.schema_file,
                _steps_json(rollback.steps),
                rollback.correlation_id,
                rollback.created_at,
                rollback.uid,
                rollback.schema_sha256,
            ),
        ).fetchone()

    def save(self, rollback: Rollback) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.rollbacks set steps = %s, channel = %s, message_ts = %s, finished_at = %s where id = %s",
                (
                    _steps_json(rollback.steps),
                    rollback.channel,
                    rollback.message_ts,
                    rollback.finished_at,
                    rollback.id,
                ),
            )

    def get(self, rollback_id: int) -> Rollback | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"select {_COLUMNS} from zdm.rollbacks where id = %s", (rollback_id,)).fetchone()
        return _from_row(row) if row else None

    def record_decision(self, *, rollback_id: int, decision: str, actor: str, flag_off_all: bool = False) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "update zdm.rollbacks set schema_decision = %s, decided_by = %s, schema_flag_off_all = %s"
                " where id = %s and schema_decision is null and schema_version is not null"
                " and finished_at is null",
                (decision, actor, flag_off_all, rollback_id),
            )
            return bool(cur.rowcount == 1)

    def unfinished(self) -> list[int]:
        with self._pool.connection() as conn:
            rows = conn.execute("select id from zdm.rollbacks where finished_at is null order by id").fetchall()
        return [int(r[0]) for r in rows]

    def recent(self, *, tenant: str | None = None, limit: int = 10) -> list[Rollback]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"select {_COLUMNS} from zdm.rollbacks where (%s::text is null or tenant = %s)"
                " order by id desc limit %s",
                (tenant, tenant, limit),
            ).fetchall()
        return [_from_row(r) for r in rows]

    def exclusive(self, rollback_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((ROLLBACK_LOCK_CLASS, rollback_id), wait_s=wait_s)


def _steps_json(steps: tuple[StepResult, ...]) -> Jsonb:
    return Jsonb(
        [
            {
                "step": s.step.value,
                "status": s.status.value,
                "detail": s.detail,
                "finished_at": s.finished_at.isoformat() if s.finished_at else None,
                "output_tail": s.output_tail,
            }
            for s in steps
        ]
    )


def _from_row(row: Any) -> Rollback:
    steps = tuple(
        StepResult(
            Step(s["step"]),
            StepStatus(s["status"]),
            s["detail"],
            datetime.fromisoformat(s["finished_at"]) if s["finished_at"] else None,
            s.get("output_tail"),
        )
        for s in row[9]
    )
    return Rollback(
        id=int(row[0]),
        tenant=row[1],
        flag=row[2],
        requested_by=row[3],
        reason=row[4],
        schema_version=row[5],
        schema_file=row[6],
        schema_decision=row[7],
        decided_by=row[8],
        steps=steps,
        channel=row[10],
        message_ts=row[11],
        correlation_id=row[12],
        created_at=row[13],
        finished_at=row[14],
        uid=row[15],
        schema_sha256=row[16],
        schema_flag_off_all=bool(row[17]),
    )
