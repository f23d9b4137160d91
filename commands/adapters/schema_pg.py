"""A deploy environment's database, seen by the schema stage: history, native apply, clean-bootstrap check."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
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

log = logging.getLogger(__name__)
# zdm_scratch_<host>_<pid>_<unix seconds>_<random>: whose it is and since when, for the start-up sweep
SCRATCH = re.compile(r"^zdm_scratch_(?:(?P<host>[a-z0-9]{1,12})_(?P<pid>\d{1,7})_(?P<at>\d{1,10})_)?[0-9a-f]{8}$")
SCRATCH_STALE = timedelta(hours=1)  # a plan's bootstrap takes minutes; older unused scratch databases are leftovers


def scratch_owner() -> tuple[str, int]:
    """This process: (short host name, pid). In a container the bot's pid is the same after a restart."""
    host = re.sub(r"[^a-z0-9]", "", socket.gethostname().lower())[:12] or "host"
    return host, os.getpid()


def scratch_name(now: datetime, *, owner: tuple[str, int]) -> str:
    return f"zdm_scratch_{owner[0]}_{owner[1]}_{int(now.timestamp())}_{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PgSchemaTarget:
    def __init__(self, url: str, *, connect_timeout_s: int = 10, owner: tuple[str, int] | None = None) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._owner = owner or scratch_owner()

    def sweep_scratch(self, *, now: datetime) -> list[str]:
        """At start-up: drop the scratch databases a killed plan left on this server. Ours (this host, this pid or
        a pid no longer running) go at once; anyone's go once older than ``SCRATCH_STALE`` and unused."""
        host, pid = self._owner
        dropped = []
        with self._connect() as admin:
            rows = admin.execute(
                "select d.datname, exists (select 1 from pg_stat_activity a where a.datname = d.datname)"
                " from pg_database d where d.datname like 'zdm\\_scratch\\_%'"
            ).fetchall()
            for name, in_use in rows:
                match = SCRATCH.match(name)
                if match is None:
                    continue
                ours = match["host"] == host and (int(match["pid"]) == pid or not _pid_alive(int(match["pid"])))
                created = datetime.fromtimestamp(int(match["at"]), now.tzinfo) if match["at"] else None
                stale = not in_use and (created is None or now - created > SCRATCH_STALE)
                if not (ours or stale):
                    continue
                try:
                    force = sql.SQL(" with (force)") if ours else sql.SQL("")
                    admin.execute(sql.SQL("drop database if exists {}{}").format(sql.Identifier(name), force))
                    dropped.append(name)
                except psycopg.Error as exc:  # someone started using it meanwhile: the next start looks again
                    log.warning("could not drop scratch database %s: %s", name, exc)
        if dropped:
            log.warning("dropped scratch database(s) left by interrupted plans: %s", ", ".join(dropped))
        return dropped

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
        scratch = scratch_name(datetime.now().astimezone(), owner=self._owner)
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
