"""Writing a rollback run during a state-database outage into the state database, once (``RollbackImporter``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from commands.adapters.state_pg import _steps_json
from commands.outbox.model import OutboxEntry
from commands.ports import AuditEvent
from commands.rollback.model import Rollback

# The flag-off in zdm's exposure record, unless something newer (a flip after the outage) is recorded already
_EXPOSURE_OFF = (
    "insert into zdm.flag_exposure as e (flag, tenant, enabled, changed_at, changed_by)"
    " values (%s, %s, false, %s, %s)"
    " on conflict (flag, tenant) do update set enabled = false, changed_at = excluded.changed_at,"
    " changed_by = excluded.changed_by where e.changed_at is null or e.changed_at <= excluded.changed_at"
)


class PgRollbackImporter:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def import_once(
        self, rollback: Rollback, *, audits: Sequence[tuple[AuditEvent, datetime]], entry: Callable[[int], OutboxEntry]
    ) -> int | None:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "insert into zdm.rollbacks (tenant, flag, requested_by, reason, steps, correlation_id, created_at,"
                " finished_at, uid) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict (uid) do nothing returning id",
                (
                    rollback.tenant,
                    rollback.flag,
                    rollback.requested_by,
                    rollback.reason,
                    _steps_json(rollback.steps),
                    rollback.correlation_id,
                    rollback.created_at,
                    rollback.finished_at,
                    rollback.uid,
                ),
            ).fetchone()
            if row is None:
                return None
            rollback_id = int(row[0])
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into zdm.audit_log (at, actor, action, subject, outcome, detail, correlation_id)"
                    " values (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (at, e.actor, e.action, e.subject, e.outcome, Jsonb({"rollback_id": rollback_id, **e.detail}),
                         e.correlation_id)
                        for e, at in audits
                    ],
                )  # fmt: skip
            conn.execute(_EXPOSURE_OFF, (rollback.flag, rollback.tenant, rollback.created_at, rollback.requested_by))
            log = entry(rollback_id)
            conn.execute(
                "insert into zdm.outbox (marker, path, title, body, block, heading, subject, created_at,"
                " next_attempt_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (marker) do nothing",
                (log.marker, log.path, log.title, log.text, log.block, log.heading, log.subject, log.created_at,
                 log.next_attempt_at or log.created_at),
            )  # fmt: skip
            return rollback_id

    def audit_once(self, event: AuditEvent, *, at: datetime, key: str) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "insert into zdm.audit_log (at, actor, action, subject, outcome, detail, correlation_id)"
                " select %s, %s, %s, %s, %s, %s, %s where not exists (select 1 from zdm.audit_log"
                " where subject = %s and at = %s and detail->>'journal_uid' = %s)",
                (at, event.actor, event.action, event.subject, event.outcome, Jsonb(dict(event.detail)),
                 event.correlation_id, event.subject, at, key),
            )  # fmt: skip
            return bool(cur.rowcount == 1)
