"""Applies the bot's own state schema (``commands/store/migrations/NNNN_name.sql``) at start-up.

Idempotent and safe with several replicas starting at once: the whole run holds a session advisory lock,
and each file is applied in its own transaction together with its ``zdm.schema_version`` row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from commands.store.grants import grant_runtime_role

LOCK_KEY = 0x7A646D  # "zdm"
FILE_NAME = re.compile(r"\A([0-9]{4})_([a-z0-9_]+)\.sql\Z")


@dataclass(frozen=True)
class StateMigration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[StateMigration]:
    folder = resources.files("commands.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            found.append(StateMigration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate_state(conninfo: str, *, runtime_role: str | None = None) -> list[int]:
    """Bring the state schema up to date; return the versions applied now (empty when already current).

    ``conninfo`` connects as the role that owns (or will own) schema ``zdm``; with ``runtime_role``, that role is
    then granted what the bot needs and nothing more (``commands.store.grants``)."""
    applied_now: list[int] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            schema = conn.execute("select 1 from pg_namespace where nspname = 'zdm'").fetchone()
            if schema is None:  # an owner role (deploy/state-roles.sql) finds it made and needs no CREATE on the db
                conn.execute("create schema zdm")
            conn.execute(
                "create table if not exists zdm.schema_version ("
                " version integer primary key, name text not null,"
                " applied_at timestamptz not null default now())"
            )
            done = {row[0] for row in conn.execute("select version from zdm.schema_version")}
            for migration in bundled_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "insert into zdm.schema_version (version, name) values (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(migration.version)
            if runtime_role is not None:
                grant_runtime_role(conn, runtime_role)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def pending_state_migrations(conn: psycopg.Connection[Any]) -> list[int]:
    """Versions not yet applied (used by readiness checks)."""
    exists = conn.execute("select to_regclass('zdm.schema_version') is not null").fetchone()
    done: set[object] = set()
    if exists and exists[0]:
        done = {row[0] for row in conn.execute("select version from zdm.schema_version")}
    return [m.version for m in bundled_migrations() if m.version not in done]
