"""A deploy environment's database, seen by the schema stage: history, native apply, clean-bootstrap check."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commands.schema.history import (
    MigrationFile,
    applied_history,
    apply_migration,
    ensure_history_table,
    split_statements,
)
from commands.schema.model import BootstrapResult, MigrationFailed


class PgSchemaTarget:
    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        self._url = url
        self._timeout = connect_timeout_s

    @property
    def database(self) -> str:
        return str(conninfo_to_dict(self._url).get("dbname") or "")

    def applied(self) -> dict[str, str]:
        """version → name from ``supabase_migrations.schema_migrations`` (empty if it does not exist yet)."""
        with self._connect() as conn:
            return applied_history(conn)

    def apply(self, files: Sequence[MigrationFile], *, lock_timeout_ms: int) -> list[str]:
        """Apply each file in its own transaction with its history row; stop at the first failure, which rolls
        back only its own file (``MigrationFailed`` says which, and what was applied before it)."""
        done: list[str] = []
        with self._connect() as conn:
            ensure_history_table(conn)
            already = set(applied_history(conn))
            for migration in files:
                if migration.version in already:
                    continue  # applied meanwhile (another deploy, or the Supabase CLI): never twice
                try:
                    apply_migration(conn, migration, lock_timeout_ms=lock_timeout_ms)
                except psycopg.Error as exc:
                    raise MigrationFailed(file=migration.file_name, error=_describe(exc), applied=done) from exc
                done.append(migration.version)
        return done

    def bootstrap(self, files: Sequence[MigrationFile], *, seed: Path | None, lock_timeout_ms: int) -> BootstrapResult:
        """Create a scratch database next to this one, apply every file from zero (then the seed), drop it."""
        scratch = f"zdm_scratch_{secrets.token_hex(4)}"
        with self._connect() as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
        try:
            url = make_conninfo(self._url, dbname=scratch)
            with psycopg.connect(url, autocommit=True, connect_timeout=self._timeout) as conn:
                ensure_history_table(conn)
                for count, migration in enumerate(files):
                    try:
                        apply_migration(conn, migration, lock_timeout_ms=lock_timeout_ms)
                    except psycopg.Error as exc:
                        return BootstrapResult(False, count, file=migration.file_name, error=_describe(exc))
                if seed is not None and seed.is_file():
                    try:
                        with conn.transaction():
                            for statement in split_statements(seed.read_text(encoding="utf-8")):
                                conn.execute(statement.encode())
                    except psycopg.Error as exc:
                        return BootstrapResult(False, len(files), file=seed.name, error=_describe(exc))
                    return BootstrapResult(True, len(files), seeded=True)
            return BootstrapResult(True, len(files))
        finally:
            with self._connect() as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=self._timeout)


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    if diag.sqlstate == "55P03":
        text += " (lock_timeout: another session held a conflicting lock; retry when the table is quieter)"
    return text
