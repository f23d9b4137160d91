"""The bot's state schema in Postgres: applies ``commands.store.migrator``'s files and ``commands.store.grants``.

Idempotent and safe with several replicas starting at once: the whole run holds a session advisory lock,
and each file is applied in its own transaction together with its ``zdm.schema_version`` row.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from commands.store.grants import SCHEMA_GRANTS, table_revokes
from commands.store.migrator import LOCK_KEY, bundled_migrations, pending_versions


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
    return pending_versions(done)


def runtime_grants(role: str) -> list[sql.Composed]:
    """The statements, in order, for the runtime role ``role`` on schema ``zdm``."""
    who = sql.Identifier(role)
    composed = [sql.SQL(s).format(who=who) for s in SCHEMA_GRANTS]
    for template, table in table_revokes():
        composed.append(sql.SQL(template).format(table=sql.Identifier(table), who=who))
    return composed


def grant_runtime_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Apply ``runtime_grants`` in one transaction; refuse a role that owns schema zdm (it would stay all-powerful)."""
    owns = conn.execute(
        "select exists (select 1 from pg_namespace n join pg_roles r on r.oid = n.nspowner"
        " where n.nspname = 'zdm' and r.rolname = %s)",
        (role,),
    ).fetchone()
    if owns and owns[0]:
        raise ValueError(f"the runtime role {role!r} owns schema zdm; use a separate owner role for the migrator")
    with conn.transaction():
        for statement in runtime_grants(role):
            conn.execute(statement)


def current_role(conninfo: str) -> str:
    """The role a connection string logs in as (asked from the server: the URL may leave the user out)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("select current_user").fetchone()
    assert row is not None
    return str(row[0])
