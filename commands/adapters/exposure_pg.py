"""zdm's exposure record (``zdm.flag_exposure``) and the per-flag lock that flips and rollbacks share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from commands.rollout.exposure import Timeline

FLAG_LOCK_CLASS = 0x7A66  # first key of the transaction advisory lock on a flag (second: hashtext(flag))

# Tenants with an open rollback of the flag, or whose latest rollback was not followed by `/zdm rollout include`.
HELD_SQL = (
    "select distinct on (r.tenant) r.tenant, r.id from zdm.rollbacks r"
    " where r.flag = %s and (r.finished_at is null or not exists (select 1 from zdm.rollout_includes i"
    "  where i.flag = r.flag and i.tenant = r.tenant and i.included_at >= r.created_at))"
    " order by r.tenant, r.created_at desc"
)

# The same for several flags at once: (flag, tenant, rollback id).
HELD_MANY_SQL = (
    "select distinct on (r.flag, r.tenant) r.flag, r.tenant, r.id from zdm.rollbacks r"
    " where r.flag = any(%s) and (r.finished_at is null or not exists (select 1 from zdm.rollout_includes i"
    "  where i.flag = r.flag and i.tenant = r.tenant and i.included_at >= r.created_at))"
    " order by r.flag, r.tenant, r.created_at desc"
)

_RECORD_SQL = (
    "insert into zdm.flag_exposure as e (flag, tenant, enabled, first_enabled_at, last_enabled_at, changed_at,"
    " changed_by) select %(flag)s, slug, %(on)s, case when %(on)s then %(at)s end, case when %(on)s then %(at)s end,"
    " %(at)s, %(actor)s from unnest(string_to_array(%(slugs)s, E'\\n')) as slug"
    " on conflict (flag, tenant) do update set enabled = excluded.enabled, changed_at = excluded.changed_at,"
    " changed_by = excluded.changed_by,"
    " first_enabled_at = coalesce(e.first_enabled_at, excluded.first_enabled_at),"
    " last_enabled_at = coalesce(excluded.last_enabled_at, e.last_enabled_at)"
)


def lock_flag(conn: psycopg.Connection[Any], flag: str) -> None:
    """Take the flag's lock for the rest of ``conn``'s transaction (rollback records take it when inserted)."""
    conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (FLAG_LOCK_CLASS, flag))


class _Guard:
    def __init__(self, conn: psycopg.Connection[Any], flag: str) -> None:
        self._conn = conn
        self._flag = flag

    def held(self) -> dict[str, int]:
        return {str(r[0]): int(r[1]) for r in self._conn.execute(HELD_SQL, (self._flag,)).fetchall()}

    def record(self, *, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None:
        _record(self._conn, flag=self._flag, tenants=tenants, enabled=enabled, actor=actor, at=at)


class PgExposure:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    @contextmanager
    def guard(self, flag: str) -> Iterator[_Guard]:
        with self._pool.connection() as conn, conn.transaction():
            lock_flag(conn, flag)
            # pipeline mode: `record` is sent at once and not waited for, so the server writes the exposure rows
            # while the flip runs in the target database; any error surfaces when the block ends, before the commit
            with conn.pipeline():
                yield _Guard(conn, flag)

    def record(self, *, flag: str, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None:
        with self._pool.connection() as conn:
            _record(conn, flag=flag, tenants=tenants, enabled=enabled, actor=actor, at=at)

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select tenant from zdm.flag_exposure where flag = %s and enabled"
                " and tenant = any(string_to_array(%s, E'\\n'))",
                (flag, "\n".join(tenants)),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def timeline(self, flag: str) -> Timeline:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select min(first_enabled_at), max(last_enabled_at) from zdm.flag_exposure where flag = %s", (flag,)
            ).fetchone()
        return Timeline(row[0], row[1]) if row else Timeline()


def _record(
    conn: psycopg.Connection[Any], *, flag: str, tenants: Sequence[str], enabled: bool, actor: str, at: datetime
) -> None:
    if tenants:  # one text parameter for every slug (see PgAuditLog.record_each)
        conn.execute(_RECORD_SQL, {"flag": flag, "on": enabled, "at": at, "actor": actor, "slugs": "\n".join(tenants)})
