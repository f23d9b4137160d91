"""The per-database work queue in the bot's state database (``zdm.work_queue``: one row per queued item).

Claims take the head of a database's line ``FOR UPDATE SKIP LOCKED`` and the partial unique index allows one
running item per database, so two replicas never start two items, and an item is a row from the moment it is
asked for: a crash loses none. Starting an item's work runs under the database's lease (``exclusive``).
"""

from __future__ import annotations

import zlib
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from commands.adapters.locks import PgLocks
from commands.queue.model import ItemStatus, Kind, QueueItem

QUEUE_LOCK_CLASS = 0x7A71  # per database key: one worker at a time starts or finishes a database's items
_COLUMNS = (
    "id, database, env, kind, requester, requested_at, args, status, ref, started_at, finished_at, reason,"
    " channel, message_ts"
)
_HEAD = "order by (kind <> 'schema rollback'), id"


def database_key(url: str) -> str:
    """``host:port/dbname`` of a connection URL: which database, without credentials."""
    info = conninfo_to_dict(url)
    host = str(info.get("host") or "localhost").split(",")[0]
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class PgWorkQueue:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def enqueue(self, item: QueueItem, *, now: datetime) -> QueueItem:
        """Insert the item: running at once when its database has nothing active, else queued."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, %s)", (QUEUE_LOCK_CLASS, _key(item.database)))
            busy = conn.execute(
                "select 1 from zdm.work_queue where database = %s and status in ('queued', 'running') limit 1",
                (item.database,),
            ).fetchone()
            status, started = (ItemStatus.QUEUED, None) if busy else (ItemStatus.RUNNING, now)
            row = conn.execute(
                "insert into zdm.work_queue"
                " (database, env, kind, requester, requested_at, args, status, started_at, ref)"
                f" values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning {_COLUMNS}",
                (item.database, item.env, item.kind.value, item.requester, item.requested_at, item.args,
                 status.value, started, item.ref),
            ).fetchone()  # fmt: skip
        assert row is not None
        return _load(row)

    def claim_next(self, database: str, *, now: datetime) -> QueueItem | None:
        """Mark the head of ``database``'s line running, unless an item already runs there."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, %s)", (QUEUE_LOCK_CLASS, _key(database)))
            running = conn.execute(
                "select 1 from zdm.work_queue where database = %s and status = 'running'", (database,)
            ).fetchone()
            if running:
                return None
            head = conn.execute(
                f"select id from zdm.work_queue where database = %s and status = 'queued' {_HEAD} limit 1"
                " for update skip locked",
                (database,),
            ).fetchone()
            if head is None:
                return None
            row = conn.execute(
                f"update zdm.work_queue set status = 'running', started_at = %s where id = %s returning {_COLUMNS}",
                (now, head[0]),
            ).fetchone()
        return _load(row) if row else None

    def active(self, database: str | None = None) -> list[QueueItem]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"select {_COLUMNS} from zdm.work_queue where status in ('queued', 'running')"
                " and (%s::text is null or database = %s) order by id",
                (database, database),
            ).fetchall()
        return [_load(r) for r in rows]

    def find(self, kind: Kind, ref: int) -> QueueItem | None:
        """The active item of this kind for existing work ``ref`` (a rollback's schema step)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                f"select {_COLUMNS} from zdm.work_queue where kind = %s and ref = %s"
                " and status in ('queued', 'running') order by id limit 1",
                (kind.value, ref),
            ).fetchone()
        return _load(row) if row else None

    def get(self, item_id: int) -> QueueItem | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"select {_COLUMNS} from zdm.work_queue where id = %s", (item_id,)).fetchone()
        return _load(row) if row else None

    def set_ref(self, item_id: int, ref: int) -> None:
        with self._pool.connection() as conn:
            conn.execute("update zdm.work_queue set ref = %s where id = %s", (ref, item_id))

    def set_message(self, item_id: int, *, channel: str, ts: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.work_queue set channel = %s, message_ts = %s where id = %s", (channel, ts, item_id)
            )

    def finish(
        self, item_id: int, *, status: ItemStatus, reason: str, now: datetime, only_queued: bool = False
    ) -> bool:
        """Leave the queue (done or cancelled); False when it had already left (or, ``only_queued``, started)."""
        allowed = ["queued"] if only_queued else ["queued", "running"]
        with self._pool.connection() as conn:
            cur = conn.execute(
                "update zdm.work_queue set status = %s, reason = %s, finished_at = %s"
                " where id = %s and status = any(%s)",
                (status.value, reason, now, item_id, allowed),
            )
        return bool(cur.rowcount == 1)

    def exclusive(self, database: str, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((QUEUE_LOCK_CLASS, _key(database)), wait_s=wait_s)


def _load(row: tuple[Any, ...]) -> QueueItem:
    return QueueItem(
        id=int(row[0]), database=row[1], env=row[2], kind=Kind(row[3]), requester=row[4], requested_at=row[5],
        args=row[6], status=ItemStatus(row[7]), ref=None if row[8] is None else int(row[8]), started_at=row[9],
        finished_at=row[10], reason=row[11], channel=row[12], message_ts=row[13],
    )  # fmt: skip


def _key(database: str) -> int:
    return zlib.crc32(database.encode()) & 0x7FFFFFFF
