"""Scratch databases are named by their owner (host, pid, time) and swept at start-up: this host's leftovers at
once, anyone's once stale and unused; a database in use or another live owner's recent one stays."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import psycopg

from bot.embedded import EmbeddedPostgres, ensure_database
from commands.adapters.schema_pg import SCRATCH, PgSchemaTarget, scratch_name, scratch_owner
from tests.conftest import Databases

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def scratch_databases(pg: EmbeddedPostgres) -> set[str]:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        rows = conn.execute("select datname from pg_database where datname like 'zdm%%scratch%%'").fetchall()
    return {r[0] for r in rows}


def test_the_start_up_sweep_drops_leftovers_by_owner_and_age(pg: EmbeddedPostgres, dbs: Databases) -> None:
    host, pid = scratch_owner()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    at = int(NOW.timestamp())
    names = {
        "mine": scratch_name(NOW, owner=(host, pid)),
        "my_host_dead_pid": f"zdm_scratch_{host}_{dead_pid}_{at}_00000001",
        "other_old": f"zdm_scratch_otherhost_1_{at - 7200}_00000002",
        "other_recent": f"zdm_scratch_otherhost_1_{at - 60}_00000003",
        "other_old_in_use": f"zdm_scratch_otherhost_2_{at - 7200}_00000004",
        "legacy": "zdm_scratch_0badf00d",
    }
    assert all(SCRATCH.match(name) for name in names.values())
    admin = pg.url("postgres")
    for name in names.values():
        ensure_database(admin, name)
    with psycopg.connect(pg.url(names["other_old_in_use"])):  # a plan of another zdm is using it
        dropped = PgSchemaTarget(dbs.target_url, owner=(host, pid)).sweep_scratch(now=NOW)
        left = scratch_databases(pg)
    assert set(dropped) == {names[k] for k in ("mine", "my_host_dead_pid", "other_old", "legacy")}
    assert {names["other_recent"], names["other_old_in_use"]} <= left and not left & set(dropped)
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in (names["other_recent"], names["other_old_in_use"]):
            conn.execute(f'drop database "{name}"')
