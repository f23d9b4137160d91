"""Backfill state: run records in the bot's state database, checkpoints in the *target* database.

A checkpoint row is updated in the same transaction as the batch it describes, so a crash at any instant loses
nothing and repeats nothing: after a restart each worker continues from the last key its committed batch reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from commands.adapters.backfill_canary import LAG_SQL, SESSIONS_SQL, Canary
from commands.adapters.locks import PgLocks
from commands.adapters.pool_check import check_without_round_trip
from commands.backfill.config import BackfillJob
from commands.backfill.model import BackfillRun, Progress, RunStatus, split_ranges
from commands.backfill.ports import BatchResult, Cancellable, Checkpoint, Probe, RowLockTimeout, RuntimeLimitReached
from commands.errors import UsageError

BACKFILL_LOCK_CLASS = 0x7A66
CHECKPOINTS = """
create schema if not exists zdm_backfill;
create table if not exists zdm_backfill.checkpoints (
    run_id    bigint not null,
    worker    integer not null,
    after_key bigint not null,
    upto_key  bigint not null,
    done      bigint not null default 0,
    failed    bigint not null default 0,
    batches   integer not null default 0,
    finished  boolean not null default false,
    primary key (run_id, worker)
);
create table if not exists zdm_backfill.canary (
    run_id  bigint primary key,
    beats   bigint not null default 0,
    beat_at timestamptz
);
create table if not exists zdm_backfill.canary_slots (
    run_id  bigint not null,
    slot    integer not null,
    beats   bigint not null default 0,
    beat_at timestamptz,
    primary key (run_id, slot)
)
"""


class LegacyStillRunning(RuntimeError):
    """A previous legacy statement for this run has not finished in the database."""


class BatchOutOfRange(RuntimeError):
    """The job's batch statement broke the keyset contract; fix batch_sql in zdm.toml."""


class PgCheckpoints:
    """One environment's database. Reads (progress, verification, load, anomalies) go through a small read-only
    pool opened on first use: the coordinator polls several times a second and must not connect every time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._readers: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()

    def _reader(self) -> ConnectionPool[Any]:
        with self._lock:
            if self._readers is None:
                self._readers = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=4,
                    name="zdm-backfill-read",
                    open=False,
                    kwargs={"autocommit": True, "options": "-c default_transaction_read_only=on"},
                    check=check_without_round_trip,
                )
                self._readers.open(wait=True, timeout=30)
            return self._readers

    def close(self) -> None:
        with self._lock:
            if self._readers is not None:
                self._readers.close()
                self._readers = None

    @property
    def url(self) -> str:
        return self._url

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, application_name="zdm-backfill")

    def prepare(self, run_id: int, job: BackfillJob) -> list[Checkpoint]:
        """Create this run's key ranges once (idempotent); return every worker's checkpoint."""
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute("select pg_advisory_lock(%s, %s)", (BACKFILL_LOCK_CLASS, 0))
            try:
                conn.execute(CHECKPOINTS)
                exists = conn.execute("select 1 from zdm_backfill.checkpoints where run_id = %s", (run_id,)).fetchone()
                if not exists:
                    schema, table = job.table.split(".", 1)
                    bounds = sql.SQL("select min({k})::bigint, max({k})::bigint from {t}").format(
                        k=sql.Identifier(job.key), t=sql.Identifier(schema, table)
                    )
                    low, high = conn.execute(bounds).fetchone() or (None, None)
                    with conn.transaction():
                        for worker, (after, upto) in enumerate(split_ranges(low, high, job.workers)):
                            conn.execute(
                                "insert into zdm_backfill.checkpoints (run_id, worker, after_key, upto_key, finished)"
                                " values (%s, %s, %s, %s, %s)",
                                (run_id, worker, after, upto, low is None),
                            )
            finally:
                conn.execute("select pg_advisory_unlock(%s, %s)", (BACKFILL_LOCK_CLASS, 0))
            rows = conn.execute(
                "select worker, after_key, upto_key, finished from zdm_backfill.checkpoints"
                " where run_id = %s order by worker",
                (run_id,),
            ).fetchall()
        return [Checkpoint(int(r[0]), int(r[1]), int(r[2]), bool(r[3])) for r in rows]

    def progress(self, run_id: int) -> Progress:
        with self._reader().connection() as conn:
            exists = conn.execute("select to_regclass('zdm_backfill.checkpoints') is not null").fetchone()
            if not (exists and exists[0]):
                return Progress()
            row = conn.execute(
                "select coalesce(sum(done), 0), coalesce(sum(failed), 0), coalesce(sum(batches), 0), count(*),"
                " count(*) filter (where finished) from zdm_backfill.checkpoints where run_id = %s",
                (run_id,),
            ).fetchone()
        assert row is not None
        return Progress(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    @staticmethod
    def run_batch(
        session: Any, job: BackfillJob, run_id: int, worker: int, *, limit: int, lock_timeout_ms: int
    ) -> BatchResult:
        """One batch and its checkpoint in one transaction (the checkpoint is read under a row lock); a row lock
        not granted within ``lock_timeout_ms`` rolls it back with ``RowLockTimeout``."""
        try:
            return PgCheckpoints._batch(session, job, run_id, worker, limit=limit, lock_timeout_ms=lock_timeout_ms)
        except psycopg.errors.LockNotAvailable as exc:
            raise RowLockTimeout(str(exc)) from exc

    @staticmethod
    def _batch(
        conn: psycopg.Connection[Any], job: BackfillJob, run_id: int, worker: int, *, limit: int, lock_timeout_ms: int
    ) -> BatchResult:
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("select set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
            after, upto = conn.execute(
                "select after_key, upto_key from zdm_backfill.checkpoints where run_id = %s and worker = %s for update",
                (run_id, worker),
            ).fetchone() or (0, 0)
            assert job.batch_sql is not None
            row = conn.execute(job.batch_sql.encode(), {"after": after, "upto": upto, "limit": limit}).fetchone()
            done, failed, last_key = (int(row[0] or 0), int(row[1] or 0), row[2]) if row else (0, 0, None)
            if last_key is not None and not after < int(last_key) <= upto:
                # rolls the batch back: past `upto` is another worker's range, at or before `after` never ends
                raise BatchOutOfRange(f"batch_sql returned last key {last_key}, outside ({after}, {upto}]")
            finished = last_key is None or int(last_key) >= upto
            conn.execute(
                "update zdm_backfill.checkpoints set after_key = coalesce(%s, after_key), done = done + %s,"
                " failed = failed + %s, batches = batches + 1, finished = %s where run_id = %s and worker = %s",
                (last_key, done, failed, finished, run_id, worker),
            )
        return BatchResult(done, failed, finished, (time.perf_counter() - started) * 1000)

    def run_legacy(
        self, job: BackfillJob, run_id: int, *, timeout_ms: int, started: Callable[[Cancellable], None]
    ) -> None:
        """The runbook's one-shot function as it is, cut off at the runtime limit (``RuntimeLimitReached``; a
        cancel through ``started`` ends it the same way).

        The session holds the run's advisory lock while the statement runs, so an attempt still running in the
        database (its client gone) blocks a second one. ``started`` gets the connection, to cancel it."""
        assert job.legacy_sql is not None
        with psycopg.connect(self._url, autocommit=True) as conn:
            row = conn.execute("select pg_try_advisory_lock(%s, %s)", (BACKFILL_LOCK_CLASS, run_id)).fetchone()
            if not (row and row[0]):
                raise LegacyStillRunning("an earlier attempt of this statement is still running in the database")
            conn.execute("select set_config('statement_timeout', %s, false)", (f"{timeout_ms}ms",))
            started(conn)
            try:
                conn.execute(job.legacy_sql.encode())
            except psycopg.errors.QueryCanceled as exc:
                raise RuntimeLimitReached(str(exc)) from exc

    def scalar(self, query: str, params: dict[str, Any] | None = None) -> float | None:
        """A number from trusted zdm.toml SQL (verification, load, audit anomalies), read-only."""
        with self._reader().connection() as conn:
            row = conn.execute(query.encode(), params).fetchone()  # no params: a literal % stays a %
        return float(row[0]) if row and row[0] is not None else None

    def canary(
        self, *, run_id: int, every_ms: int, probe: Probe | None, busy: Callable[[], bool] | None = None
    ) -> Canary:
        return Canary(self._url, run_id=run_id, every_ms=every_ms, probe=probe, busy=busy)

    def replica_lag_s(self, replicas: tuple[str, ...]) -> float | None:
        if not replicas:
            return None
        params: dict[str, Any] = {"replicas": list(replicas)}
        return self.scalar(LAG_SQL, params)

    def active_sessions(self) -> int:
        return int(self.scalar(SESSIONS_SQL, {}) or 0)


_COLUMNS = (
    "id, job, env, status, started_by, created_at, runtime_s, resumed_at, reason, batch_size, total, channel,"
    " message_ts, base_done, base_failed, stretch_since, max_speed"
)
_UPDATABLE = {
    "status",
    "runtime",
    "resumed_at",
    "reason",
    "batch_size",
    "total",
    "channel",
    "message_ts",
    "base_done",
    "base_failed",
    "stretch_since",
}


class PgBackfillRuns:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def create(self, run: BackfillRun) -> BackfillRun:
        try:
            row = self._insert(run)
        except psycopg.errors.UniqueViolation:
            active = self.latest(job=run.job, env=run.env)
            which = f" (#{active.id}, {active.status.value})" if active else ""
            raise UsageError(
                f"`{run.job}` already has an active run on `{run.env}`{which}; see `/zdm backfill status`, "
                "then resume or cancel it."
            ) from None
        return replace(run, id=int(row[0]))

    def _insert(self, run: BackfillRun) -> Any:
        with self._pool.connection() as conn:
            row = conn.execute(
                "insert into zdm.backfill_runs"
                " (job, env, status, started_by, created_at, resumed_at, reason, total, stretch_since, max_speed)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
                (
                    run.job,
                    run.env,
                    run.status.value,
                    run.started_by,
                    run.created_at,
                    run.resumed_at,
                    run.reason,
                    run.total,
                    run.created_at,
                    run.max_speed,
                ),
            ).fetchone()
        assert row is not None
        return row

    def update(self, run_id: int, *, expect: tuple[RunStatus, ...], **changes: Any) -> bool:
        """Change some fields only while the run is in one of ``expect``; False (nothing changed) otherwise. Slack
        commands, the scheduler and the engine never overwrite each other's decisions with a stale copy."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values: dict[str, Any] = {k: (v.value if isinstance(v, RunStatus) else v) for k, v in changes.items()}
        if "runtime" in values:
            values["runtime_s"] = values.pop("runtime").total_seconds()
        query = sql.SQL("update zdm.backfill_runs set {} where id = %(id)s and status = any(%(expect)s)").format(
            sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values)
        )
        with self._pool.connection() as conn:
            cur = conn.execute(query, {**values, "id": run_id, "expect": [e.value for e in expect]})
            return bool(cur.rowcount == 1)

    def get(self, run_id: int) -> BackfillRun | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"select {_COLUMNS} from zdm.backfill_runs where id = %s", (run_id,)).fetchone()
        return _run(row) if row else None

    def active(self) -> list[BackfillRun]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"select {_COLUMNS} from zdm.backfill_runs where status in ('running', 'paused') order by id"
            ).fetchall()
        return [_run(r) for r in rows]

    def latest(
        self, *, job: str | None = None, env: str | None = None, status: str | None = None
    ) -> BackfillRun | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"select {_COLUMNS} from zdm.backfill_runs where (%(job)s::text is null or job = %(job)s)"
                " and (%(env)s::text is null or env = %(env)s) and (%(status)s::text is null or status = %(status)s)"
                " order by id desc limit 1",
                {"job": job, "env": env, "status": status},
            ).fetchone()
        return _run(row) if row else None

    def exclusive(self, run_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((BACKFILL_LOCK_CLASS, run_id), wait_s=wait_s)


def _run(row: Any) -> BackfillRun:
    return BackfillRun(
        id=int(row[0]),
        job=row[1],
        env=row[2],
        status=RunStatus(row[3]),
        started_by=row[4],
        created_at=row[5],
        runtime=timedelta(seconds=float(row[6])),
        resumed_at=row[7],
        reason=row[8],
        batch_size=row[9],
        total=row[10],
        channel=row[11],
        message_ts=row[12],
        base_done=int(row[13]),
        base_failed=int(row[14]),
        stretch_since=row[15],
        max_speed=bool(row[16]),
    )
