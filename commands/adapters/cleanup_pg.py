"""Cleanup requests (``zdm.cleanups``) and the read-only facts about a release that zdm recorded."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter

from commands.adapters.backfill_pg import PgBackfillRuns
from commands.adapters.locks import PgLocks
from commands.adapters.rollout_pg import from_doc
from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.adapters.state_pg import PgRollbackRepository
from commands.alerts.model import AlertEvent
from commands.backfill.model import BackfillRun
from commands.cleanup.model import Cleanup
from commands.errors import UserError
from commands.rollback.model import Rollback
from commands.rollout.model import Rollout
from commands.schema.model import Deploy

_DOC = TypeAdapter(Cleanup)


CLEANUP_LOCK_CLASS = 0x7A63


class PgCleanups:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def exclusive(self, cleanup_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((CLEANUP_LOCK_CLASS, cleanup_id), wait_s=wait_s)

    def create(self, cleanup: Cleanup) -> Cleanup:
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "insert into zdm.cleanups (release, status, requested_at, doc) values (%s, %s, %s, %s)"
                    " returning id",
                    (cleanup.release, cleanup.status.value, cleanup.requested_at, Jsonb(_dump(cleanup))),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise UserError(f"Release `{cleanup.release}` already has a cleanup awaiting approval.") from None
        assert row is not None
        return replace(cleanup, id=int(row[0]))

    def save(self, cleanup: Cleanup) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.cleanups set status = %s, doc = %s where id = %s",
                (cleanup.status.value, Jsonb(_dump(cleanup)), cleanup.id),
            )

    def get(self, cleanup_id: int) -> Cleanup | None:
        with self._pool.connection() as conn:
            row = conn.execute("select id, doc from zdm.cleanups where id = %s", (cleanup_id,)).fetchone()
        return _load(row) if row else None

    def awaiting(self, release: str) -> Cleanup | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select id, doc from zdm.cleanups where release = %s and status = 'awaiting'", (release,)
            ).fetchone()
        return _load(row) if row else None


class PgReleaseFacts:
    """Reads the other stages' records; never writes."""

    def __init__(self, pool: ConnectionPool[Any], *, rollbacks: PgRollbackRepository, deploys: PgSchemaDeploys,
                 runs: PgBackfillRuns) -> None:  # fmt: skip
        self._pool = pool
        self._rollbacks = rollbacks
        self._deploys = deploys
        self._runs = runs

    def rollout_for(self, flag: str) -> Rollout | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select id, doc from zdm.rollouts where flag = %s order by id desc limit 1", (flag,)
            ).fetchone()
        return from_doc(int(row[0]), row[1]) if row else None

    def rollbacks(self, flag: str, *, since: datetime | None = None) -> list[Rollback]:
        found = [r for r in self._rollbacks.recent(limit=500) if r.flag == flag]
        return sorted((r for r in found if since is None or r.created_at >= since), key=lambda r: r.created_at)

    def schema_deploys(self, files: Sequence[str]) -> list[Deploy]:
        deploys = self._deploys.recent(limit=500)
        mine = [d for d in deploys if d.status.value == "applied" and set(d.files) & set(files)]
        return sorted(mine, key=lambda d: d.id)

    def backfill_runs(self, job: str) -> list[BackfillRun]:
        with self._pool.connection() as conn:
            ids = [r[0] for r in conn.execute("select id from zdm.backfill_runs where job = %s order by id", (job,))]
        return [run for i in ids if (run := self._runs.get(int(i))) is not None]

    def audit_rows(self, *, subjects: Sequence[str], since: datetime | None) -> list[dict[str, Any]]:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "select id, at, actor, action, subject, outcome, detail, correlation_id from zdm.audit_log"
                " where subject = any(%s) and (%s::timestamptz is null or at >= %s) order by id",
                (list(subjects), since, since),
            )
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def alert_events(self, *, since: datetime | None) -> list[AlertEvent]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select rule, kind, at, value, detail from zdm.alert_events where kind in ('firing', 'resolved')"
                " and (%s::timestamptz is null or at >= %s) order by at, id",
                (since, since),
            ).fetchall()
        return [AlertEvent(r[0], r[1], r[2], r[3], dict(r[4])) for r in rows]


def _dump(cleanup: Cleanup) -> dict[str, Any]:
    doc: dict[str, Any] = _DOC.dump_python(cleanup, mode="json")
    return doc


def _load(row: tuple[Any, ...]) -> Cleanup:
    return replace(_DOC.validate_python(row[1]), id=int(row[0]))
