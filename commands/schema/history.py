"""Supabase-compatible migration files and history.

The Supabase CLI keeps applied migrations in ``supabase_migrations.schema_migrations(version text primary key,
statements text[], name text)``; a file ``<digits>_<name>.sql`` has version ``<digits>``. Each file is applied in
its own transaction with the history row inserted last, so a failing file leaves no trace. ``*_rollback.sql``
files are pairs for going back and are never applied forward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

MIGRATION_FILE = re.compile(r"^(?P<version>\d+)_(?P<name>.+)\.sql$")
HISTORY_DDL = (
    "create schema if not exists supabase_migrations",
    "create table if not exists supabase_migrations.schema_migrations ("
    " version text not null primary key, statements text[], name text)",
)


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path

    @property
    def is_rollback(self) -> bool:
        return self.name.endswith("_rollback")

    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


def list_migrations(folder: Path) -> list[MigrationFile]:
    """Forward migrations in version order (``*_rollback.sql`` excluded)."""
    found = []
    for path in folder.glob("*.sql"):
        match = MIGRATION_FILE.match(path.name)
        if match:
            found.append(MigrationFile(match["version"], match["name"], path))
    return sorted((m for m in found if not m.is_rollback), key=lambda m: (int(m.version), m.name))


def split_statements(sql: str) -> list[str]:
    """Split a SQL script on top-level semicolons, honouring quotes, dollar quotes and comments."""
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch and sql.startswith(ch * 2, end):
                    end += 2
                    continue
                if sql[end] == ch:
                    break
                end += 1
            i = end + 1
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z_0-9]*\$", sql[i:])):
            close = sql.find(tag.group(0), i + len(tag.group(0)))
            i = n if close < 0 else close + len(tag.group(0))
        elif ch == ";":
            _append_statement(statements, sql[start:i])
            start = i = i + 1
        else:
            i += 1
    _append_statement(statements, sql[start:])
    return statements


def _append_statement(statements: list[str], text: str) -> None:
    stripped = text.strip()
    lines = [ln for ln in stripped.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if lines:
        statements.append(stripped)


def ensure_history_table(conn: psycopg.Connection[Any]) -> None:
    for ddl in HISTORY_DDL:
        conn.execute(ddl)


def applied_versions(conn: psycopg.Connection[Any]) -> set[str]:
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations")}


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
