"""The pools' connection check: no round trip for a healthy connection, yet a dead one is still caught."""

from __future__ import annotations

import psycopg
import pytest

from commands.adapters.pool_check import check_without_round_trip
from tests.conftest import Databases


def last_query(admin: psycopg.Connection[object], conn: psycopg.Connection[object]) -> str:
    row = admin.execute("select query from pg_stat_activity where pid = %s", (conn.info.backend_pid,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_healthy_connection_passes_without_a_query_and_a_terminated_one_is_caught(dbs: Databases) -> None:
    with dbs.target() as conn, dbs.target() as admin:
        check_without_round_trip(conn)  # never verified yet: the full check (an empty query)
        assert last_query(admin, conn) == ""
        conn.execute("select 'marker'")
        for _ in range(3):
            check_without_round_trip(conn)
        assert last_query(admin, conn) == "select 'marker'"  # the server heard nothing from the checks

        admin.execute("select pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))  # waits for it to exit
        with pytest.raises(psycopg.OperationalError):
            check_without_round_trip(conn)
