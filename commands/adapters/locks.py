"""Cross-process locks on one record (a rollback, a rollout), shared by every replica through Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


class PgLocks:
    """Session advisory locks on connections of a small pool reserved for them.

    A connection of its own per held lock (not one of the work pool's connections): long work such as a smoke
    test or a 10 000-tenant flip never starves the work pool, and opening a fresh session per lock (several ms)
    is avoided. A lock is always released before its connection goes back to the pool; if the release fails the
    connection is closed, which releases the lock and makes the pool discard it.
    """

    def __init__(self, url: str, *, max_size: int = 16, connect_wait_s: float = 5.0) -> None:
        # how long `hold` waits for a session: bounded, so a database outage fails fast instead of stalling a tick
        self._connect_wait_s = connect_wait_s
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            name="zdm-locks",
            open=False,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
        )
        self._pool.open(wait=True, timeout=30)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def hold(self, key: tuple[int, int], *, wait_s: float = 0) -> Iterator[bool]:
        """Hold the two-key advisory lock for the ``with`` block; yields False if another session holds it."""
        with self._pool.connection(timeout=self._connect_wait_s + max(wait_s, 0)) as conn:
            try:
                got = _acquire(conn, key, wait_s)
            except BaseException:
                conn.close()  # it may hold the lock already; a closed session holds nothing
                raise
            try:
                yield got
            finally:
                if got:
                    _release(conn, key)


def _acquire(conn: psycopg.Connection[Any], key: tuple[int, int], wait_s: float) -> bool:
    if wait_s <= 0:
        row = conn.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()
        return bool(row and row[0])
    conn.execute("select set_config('lock_timeout', %s, false)", (f"{int(wait_s * 1000)}ms",))
    try:
        conn.execute("select pg_advisory_lock(%s, %s)", key)
        return True
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        conn.execute("select set_config('lock_timeout', '0', false)")


def _release(conn: psycopg.Connection[Any], key: tuple[int, int]) -> None:
    try:
        conn.execute("select pg_advisory_unlock(%s, %s)", key)
    except Exception:
        conn.close()  # closing the session releases every lock it held; the pool drops closed connections
        raise
