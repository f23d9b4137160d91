"""A pool ``check`` that costs no round trip on the hot path (every Slack request takes a connection first).

psycopg_pool's ``check_connection`` sends an empty query on every checkout: one extra round trip before each
statement. A connection the server (or an outage) closed while it sat in the pool is *readable* (EOF or an error
message is waiting), so a zero-timeout poll of its socket finds it without asking the server; only then, or when
the connection has not been verified for ``FULL_CHECK_EVERY_S``, is the full check made.
"""

from __future__ import annotations

import select
import threading
import time
import weakref
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

FULL_CHECK_EVERY_S = 30.0
_verified: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def check_without_round_trip(conn: psycopg.Connection[Any]) -> None:
    """Raise (the pool then replaces the connection) when it is closed or broken; otherwise return quietly."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection was closed")
    now = time.monotonic()
    with _lock:
        fresh = now - _verified.get(conn, float("-inf")) < FULL_CHECK_EVERY_S
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if fresh and not readable:
        return
    ConnectionPool.check_connection(conn)  # a round trip: raises if the server is gone
    with _lock:
        _verified[conn] = now
