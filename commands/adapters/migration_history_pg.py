"""The Supabase CLI's migration history in a Postgres database (``supabase_migrations.schema_migrations``):
create it, read it, and apply a migration file with its history row (see ``commands.schema.history``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from commands.schema.history import MigrationFile, list_migrations

HISTORY_DDL = (
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations ("
    " version text not null primary key, statements text[], name text)",
)


def ensure_history_table(conn: psycopg.Connection[Any]) -> None:
    for ddl in HISTORY_DDL:
        conn.execute(ddl)


def applied_versions(conn: psycopg.Connection[Any]) -> set[str]:
    return set(applied_history(conn))


def applied_history(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """version → name of every applied migration (empty when the history table does not exist yet)."""
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("select version, coalesce(name, '') from supabase_migrations.schema_migrations")
    return {str(version): str(name) for version, name in rows}


def apply_migration(conn: psycopg.Connection[Any], migration: MigrationFile, *, lock_timeout_ms: int) -> None:
    """Apply one file in one transaction, the history row last (``conn`` must be in autocommit mode)."""
    statements = migration.statements()
    with conn.transaction():
        conn.execute("select set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
        for statement in statements:
            conn.execute(statement.encode())
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, statements, name) values (%s, %s, %s)",
            (migration.version, statements, migration.name),
        )


def apply_pending(conninfo: str, folder: Path, *, lock_timeout_ms: int = 5000) -> list[str]:
    """Apply every forward migration not yet in the history; return the versions applied."""
    applied: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ensure_history_table(conn)
        done = applied_versions(conn)
        for migration in list_migrations(folder):
            if migration.version not in done:
                apply_migration(conn, migration, lock_timeout_ms=lock_timeout_ms)
                applied.append(migration.version)
    return applied
