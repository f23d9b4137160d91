"""Break-glass records in the bot's state database (``zdm.break_glass``: a jsonb document per request)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter

from commands.adapters.locks import PgLocks
from commands.breakglass.model import BreakGlass, BreakGlassStatus

_DOC = TypeAdapter(BreakGlass)


BREAK_GLASS_LOCK_CLASS = 0x7A6B  # per request id: the confirmed action runs under it


class PgBreakGlass:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def confirmed(self) -> list[BreakGlass]:
        with self._pool.connection() as conn:
            rows = conn.execute("select id, doc from zdm.break_glass where status = 'confirmed' order by id").fetchall()
        return [replace(_DOC.validate_python(r[1]), id=int(r[0])) for r in rows]

    def exclusive(self, request_id: int) -> AbstractContextManager[bool]:
        return self._locks.hold((BREAK_GLASS_LOCK_CLASS, request_id))

    def create(self, request: BreakGlass) -> BreakGlass:
        with self._pool.connection() as conn:
            row = conn.execute(
                "insert into zdm.break_glass (action, status, requested_at, doc) values (%s, %s, %s, %s) returning id",
                (request.action, request.status.value, request.requested_at, Jsonb(_dump(request))),
            ).fetchone()
        assert row is not None
        return replace(request, id=int(row[0]))

    def save(self, request: BreakGlass) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.break_glass set status = %s, doc = %s where id = %s",
                (request.status.value, Jsonb(_dump(request)), request.id),
            )

    def get(self, request_id: int) -> BreakGlass | None:
        with self._pool.connection() as conn:
            row = conn.execute("select id, doc from zdm.break_glass where id = %s", (request_id,)).fetchone()
        return replace(_DOC.validate_python(row[1]), id=int(row[0])) if row else None

    def claim(self, request: BreakGlass, *, expected: BreakGlassStatus) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "update zdm.break_glass set status = %s, doc = %s where id = %s and status = %s",
                (request.status.value, Jsonb(_dump(request)), request.id, expected.value),
            )
            return bool(cur.rowcount == 1)


def _dump(request: BreakGlass) -> dict[str, Any]:
    doc: dict[str, Any] = _DOC.dump_python(request, mode="json")
    return doc
