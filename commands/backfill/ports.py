"""What the backfill stage needs from the outside: its run records (the bot's state database) and each
environment's database (checkpoints, batches, the legacy statement, readings and the throttle's canary).
The Postgres adapter ``backfill_pg`` implements both."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from commands.backfill.config import BackfillJob
from commands.backfill.model import BackfillRun, Progress, RunStatus
from commands.ports import AuditLog, Clock, JobFailures, Notifier, OutageCheck, RoleDirectory
from commands.queue.ports import WorkQueue


class RowLockTimeout(Exception):
    """A batch waited longer than ``lock_timeout_ms`` for a row lock (rolled back; the engine retries smaller)."""


class RuntimeLimitReached(Exception):
    """The legacy statement ran into the runtime limit (``statement_timeout``) and was rolled back."""


@dataclass(frozen=True)
class Checkpoint:
    worker: int
    after_key: int
    upto_key: int
    finished: bool


@dataclass(frozen=True)
class BatchResult:
    done: int
    failed: int
    finished: bool
    took_ms: float


@dataclass(frozen=True)
class Probe:
    """Where the canary reads: ``schema.table`` by its integer ``key``, somewhere in ``[low, high]``."""

    table: str
    key: str
    low: int
    high: int


class Cancellable(Protocol):
    def cancel_safe(self) -> None:
        """Cancel the statement running on this session now (from another thread)."""
        ...


class Canary(Protocol):
    """A tiny transaction every few milliseconds standing for the application's own requests."""

    error: BaseException | None  # why it stopped beating, if it did

    def start(self) -> None: ...

    def p95_ms(
        self, window_s: float, *, now: float | None = None, min_beats: int = 10, quiet: bool = False
    ) -> float | None:
        """The p95 of the beats in the last ``window_s`` (monotonic ``now``); None below ``min_beats`` beats.
        ``quiet``: only the beats during which no batch ran (the database as it is now without the backfill's
        statements)."""
        ...

    def is_alive(self) -> bool: ...

    def halt(self) -> None: ...


class EnvironmentDatabase(Protocol):
    """One environment's database: the rows a job changes and, beside them, the job's checkpoints."""

    def connect(self) -> AbstractContextManager[Any]:
        """A worker's own session, for ``run_batch``."""
        ...

    def prepare(self, run_id: int, job: BackfillJob) -> list[Checkpoint]:
        """Create this run's key ranges once (idempotent); return every worker's checkpoint."""
        ...

    def progress(self, run_id: int) -> Progress: ...

    def run_batch(
        self, session: Any, job: BackfillJob, run_id: int, worker: int, *, limit: int, lock_timeout_ms: int
    ) -> BatchResult:
        """One batch and its checkpoint in one transaction; raises ``RowLockTimeout`` when a row stayed locked."""
        ...

    def run_legacy(
        self, job: BackfillJob, run_id: int, *, timeout_ms: int, started: Callable[[Cancellable], None]
    ) -> None:
        """The one-shot statement, cut off at ``timeout_ms`` (``RuntimeLimitReached``); ``started`` gets the
        session, to cancel it."""
        ...

    def scalar(self, query: str, params: dict[str, Any] | None = None) -> float | None:
        """A number from trusted zdm.toml SQL (verification, load, audit anomalies), read-only."""
        ...

    def canary(
        self, *, run_id: int, every_ms: int, probe: Probe | None, busy: Callable[[], bool] | None = None
    ) -> Canary:
        """``busy``: whether a batch is running now (each beat is marked quiet when none ran while it did)."""
        ...

    def replica_lag_s(self, replicas: tuple[str, ...]) -> float | None:
        """The largest replay lag of the named replicas, in seconds; None when none of them is connected."""
        ...

    def active_sessions(self) -> int:
        """Active client sessions other than zdm's own backfill connections."""
        ...

    def close(self) -> None: ...


class BackfillRuns(Protocol):
    """Backfill run records in the bot's state database."""

    def create(self, run: BackfillRun) -> BackfillRun: ...

    def update(self, run_id: int, *, expect: tuple[RunStatus, ...], **changes: Any) -> bool:
        """Change some fields only while the run is in one of ``expect``; False (nothing changed) otherwise."""
        ...

    def get(self, run_id: int) -> BackfillRun | None: ...

    def active(self) -> list[BackfillRun]: ...

    def latest(
        self, *, job: str | None = None, env: str | None = None, status: str | None = None
    ) -> BackfillRun | None: ...

    def exclusive(self, run_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...


@dataclass(frozen=True)
class BackfillPorts:
    clock: Clock
    runs: BackfillRuns
    checkpoints: Mapping[str, EnvironmentDatabase]  # per environment
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    outage: OutageCheck  # tells "a database went away" (wait for it) from other errors
    failures: JobFailures | None = None
    queue: WorkQueue | None = None  # one piece of work per database at a time: a second start waits its turn
