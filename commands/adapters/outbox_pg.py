"""The outbox in the state database (``zdm.outbox``).

Delivery claims one due entry at a time with ``FOR UPDATE SKIP LOCKED`` and keeps the row locked while it delivers,
in the same transaction that records the outcome: two replicas (or the inline attempt and the scheduler) never
deliver the same entry at once, and a crash mid-delivery leaves the entry due again (the destination is idempotent
by the entry's marker, so a repeat finds it there).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from commands.outbox.model import OutboxEntry, retry_at
from commands.outbox.ports import Deliver

log = logging.getLogger(__name__)
_COLUMNS = (
    "id::text, marker, path, title, body, block, heading, subject, created_at, attempts, next_attempt_at,"
    " delivered_at, delivered_to, last_error"
)


class PgOutbox:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def add(self, entry: OutboxEntry) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "insert into zdm.outbox (marker, path, title, body, block, heading, subject, created_at,"
                " next_attempt_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict (marker) do nothing",
                (
                    entry.marker,
                    entry.path,
                    entry.title,
                    entry.text,
                    entry.block,
                    entry.heading,
                    entry.subject,
                    entry.created_at,
                    entry.next_attempt_at or entry.created_at,
                ),
            )
            return bool(cur.rowcount == 1)

    def deliver(self, now: datetime, deliver: Deliver, *, marker: str | None = None, limit: int) -> list[OutboxEntry]:
        done: list[OutboxEntry] = []
        for _ in range(limit):
            with self._pool.connection() as conn, conn.transaction():
                row = conn.execute(
                    f"select {_COLUMNS} from zdm.outbox where delivered_at is null and next_attempt_at <= %s"
                    " and (%s::text is null or marker = %s) order by created_at, id limit 1 for update skip locked",
                    (now, marker, marker),
                ).fetchone()
                if row is None:
                    break
                entry = _from_row(row)
                try:
                    where = deliver(entry)
                except Exception as exc:  # the entry stays; the next attempt is due after the backoff
                    log.warning("outbox: delivering %s failed: %s", entry.marker, exc)
                    why = " ".join(str(exc).split())[:300] or type(exc).__name__
                    updated = conn.execute(
                        f"update zdm.outbox set attempts = attempts + 1, next_attempt_at = %s, last_error = %s"
                        f" where id = %s returning {_COLUMNS}",
                        (retry_at(entry.attempts + 1, now), why, entry.id),
                    ).fetchone()
                    done.append(_from_row(updated))
                    break
                updated = conn.execute(
                    f"update zdm.outbox set attempts = attempts + 1, delivered_at = %s, delivered_to = %s,"
                    f" last_error = null where id = %s returning {_COLUMNS}",
                    (now, where, entry.id),
                ).fetchone()
                done.append(_from_row(updated))
        return done

    def get(self, marker: str) -> OutboxEntry | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"select {_COLUMNS} from zdm.outbox where marker = %s", (marker,)).fetchone()
        return _from_row(row) if row else None

    def find(self, id_prefix: str) -> list[OutboxEntry]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"select {_COLUMNS} from zdm.outbox where starts_with(id::text, %s) order by created_at limit 2",
                (id_prefix,),
            ).fetchall()
        return [_from_row(r) for r in rows]

    def recent(self, *, limit: int) -> list[OutboxEntry]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"select {_COLUMNS} from zdm.outbox order by created_at desc, id desc limit %s", (limit,)
            ).fetchall()
        return [_from_row(r) for r in rows]

    def next_due(self) -> datetime | None:
        with self._pool.connection() as conn:
            row = conn.execute("select min(next_attempt_at) from zdm.outbox where delivered_at is null").fetchone()
        return row[0] if row else None


def _from_row(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=row[0],
        marker=row[1],
        path=row[2],
        title=row[3],
        text=row[4],
        block=row[5],
        heading=row[6],
        subject=row[7],
        created_at=row[8],
        attempts=int(row[9]),
        next_attempt_at=row[10],
        delivered_at=row[11],
        delivered_to=row[12],
        last_error=row[13],
    )
