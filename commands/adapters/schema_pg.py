"""A deploy environment's database, seen by the schema stage: history, native apply, clean-bootstrap check (in a
scratch database next to it, or in a disposable shadow database), with the rollback round trip."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commands.adapters.migration_history_pg import applied_history, apply_migration, ensure_history_table
from commands.schema.history import MigrationFile, split_statements
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


SHADOW_LOCK = 0x7A6A_5348  # session advisory lock in the shadow database: one clean bootstrap at a time


class PgSchemaTarget:
    """``shadow_url``: a disposable database for the clean bootstrap (``shadow_env`` names its variable, to say
    which one is missing when it is configured but unset)."""

    def __init__(
        self,
        url: str,
        *,
        shadow_url: str | None = None,
        shadow_env: str | None = None,
        connect_timeout_s: int = 10,
        owner: tuple[str, int] | None = None,
    ) -> None:
        self._url = url
        self._shadow = shadow_url
        self._shadow_env = shadow_env
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

    def bootstrap(
        self,
        files: Sequence[MigrationFile],
        *,
        seed: Path | None,
        lock_timeout_ms: int,
        prelude: str | None = None,
        rollbacks: Mapping[str, Path] | None = None,
    ) -> BootstrapResult:
        """Apply the prelude and every file from zero (then the seed) in a clean database: the shadow database
        when configured (emptied before and after), else a scratch database next to this one (dropped after).
        Each version in ``rollbacks`` round-trips: the migration, its rollback, the migration again."""
        if self._shadow_env and not self._shadow:
            why = f"{self._shadow_env} is not set for zdm; set it to the disposable shadow database's URL"
            return BootstrapResult(False, 0, file="shadow database", error=why, where="the shadow database")
        if self._shadow and _same_database(self._shadow, self._url):
            why = "the shadow database is this environment's own database; point it at a disposable one"
            return BootstrapResult(False, 0, file="shadow database", error=why, where="the shadow database")
        clean = self._shadow_database() if self._shadow else self._scratch_database()
        place = "the shadow database" if self._shadow else "a scratch database"
        try:
            with clean as (url, where), psycopg.connect(url, autocommit=True, connect_timeout=self._timeout) as conn:
                result = _bootstrap(
                    conn, files, seed=seed, lock_timeout_ms=lock_timeout_ms, prelude=prelude, rollbacks=rollbacks or {}
                )
                return replace(result, where=where)
        except psycopg.Error as exc:  # the clean database could not be made, reached or emptied
            why = _describe(exc).rpartition("FATAL:")[2].strip()  # a failed connection: the server's own reason
            return BootstrapResult(False, 0, file=place, error=f"could not prepare it: {why}", where=place)

    @contextmanager
    def _scratch_database(self) -> Iterator[tuple[str, str]]:
        scratch = scratch_name(datetime.now().astimezone(), owner=self._owner)
        with self._connect() as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
        try:
            yield make_conninfo(self._url, dbname=scratch), "a scratch database"
        finally:
            with self._connect() as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))

    @contextmanager
    def _shadow_database(self) -> Iterator[tuple[str, str]]:
        """The shadow database, emptied, held by this bootstrap alone (an advisory lock) until emptied again."""
        assert self._shadow is not None
        with psycopg.connect(self._shadow, autocommit=True, connect_timeout=self._timeout) as holder:
            holder.execute("select pg_advisory_lock(%s)", (SHADOW_LOCK,))
            try:
                _empty(holder)
                yield self._shadow, "the shadow database"
            finally:
                _empty(holder)
                holder.execute("select pg_advisory_unlock(%s)", (SHADOW_LOCK,))

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=self._timeout)


def _bootstrap(
    conn: psycopg.Connection[Any],
    files: Sequence[MigrationFile],
    *,
    seed: Path | None,
    lock_timeout_ms: int,
    prelude: str | None,
    rollbacks: Mapping[str, Path],
) -> BootstrapResult:
    if prelude is not None:
        try:
            _run_script(conn, prelude)
        except psycopg.Error as exc:
            return BootstrapResult(False, 0, file="platform prelude", error=_describe(exc))
    ensure_history_table(conn)
    round_trips = 0
    for count, migration in enumerate(files):
        try:
            apply_migration(conn, migration, lock_timeout_ms=lock_timeout_ms)
        except psycopg.Error as exc:
            return BootstrapResult(False, count, file=migration.file_name, error=_describe(exc))
        pair = rollbacks.get(migration.version)
        if pair is None:
            continue
        step = pair.name
        try:  # the round trip: its rollback, then the migration again
            with conn.transaction():
                _run_script(conn, pair.read_text(encoding="utf-8"), in_transaction=True)
                conn.execute(
                    "delete from supabase_migrations.schema_migrations where version = %s", (migration.version,)
                )
            step = f"{migration.file_name} (again, after {pair.name})"
            apply_migration(conn, migration, lock_timeout_ms=lock_timeout_ms)
        except psycopg.Error as exc:
            error = f"round trip (migration, rollback, migration again) fails: {_describe(exc)}"
            return BootstrapResult(False, count + 1, file=step, error=error, round_trips=round_trips)
        round_trips += 1
    if seed is not None and seed.is_file():
        try:
            _run_script(conn, seed.read_text(encoding="utf-8"))
        except psycopg.Error as exc:
            return BootstrapResult(False, len(files), file=seed.name, error=_describe(exc), round_trips=round_trips)
        return BootstrapResult(True, len(files), seeded=True, round_trips=round_trips)
    return BootstrapResult(True, len(files), round_trips=round_trips)


def _run_script(conn: psycopg.Connection[Any], script: str, *, in_transaction: bool = False) -> None:
    if in_transaction:
        for statement in split_statements(script):
            conn.execute(statement.encode())
        return
    with conn.transaction():
        _run_script(conn, script, in_transaction=True)


def _empty(conn: psycopg.Connection[Any]) -> None:
    """Drop every schema but Postgres's own, then recreate ``public``: a database as new."""
    rows = conn.execute(
        "select nspname from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema'"
    ).fetchall()
    with conn.transaction():
        for (name,) in rows:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))
        conn.execute("create schema public")


def _same_database(a: str, b: str) -> bool:
    left, right = conninfo_to_dict(a), conninfo_to_dict(b)
    keys = ("host", "port", "dbname")
    return all(str(left.get(k) or "") == str(right.get(k) or "") for k in keys)


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    if diag.sqlstate == "55P03":
        text += " (lock_timeout: another session held a conflicting lock; retry when the table is quieter)"
    return text
