"""Cross-process locks on one record (a rollback, a rollout), shared by every replica through Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def advisory_session_lock(url: str, key: tuple[int, int], *, wait_s: float = 0) -> Iterator[bool]:
    """Hold a two-key advisory lock for the ``with`` block; yields False if another session holds it.

    A dedicated session, not a pooled connection: the lock lives exactly as long as the session, long work (a
    smoke test, a 10 000-tenant flip) does not hold one of the pool's connections, and no lock can leak into the
    pool.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if wait_s > 0:
            conn.execute("select set_config('lock_timeout', %s, false)", (f"{int(wait_s * 1000)}ms",))
            try:
                conn.execute("select pg_advisory_lock(%s, %s)", key)
                got = True
            except psycopg.errors.LockNotAvailable:
                got = False
        else:
            row = conn.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()
            got = bool(row and row[0])
        yield got  # closing the session releases the lock
