"""What a run's workers measure and how a run ends in words: the figures the progress card shows besides the
checkpoints, the verification verdict, and the one plain sentence for an unexpected error."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from commands.backfill.config import BackfillJob
from commands.backfill.model import BackfillRun, Progress, RunStatus
from commands.backfill.ports import EnvironmentDatabase

log = logging.getLogger(__name__)


@dataclass
class Stats:
    """What the progress card shows besides the checkpoints; workers update it under its lock."""

    batch_size: int
    pinned: int | None = None  # `/zdm backfill set batch-size N`: fixed from the next batch on
    throttled: bool = False
    max_batch_ms: float = 0.0
    rows_per_s: float = 0.0
    lock_retries: int = 0
    errors: list[str] = field(default_factory=list)
    lost: str | None = None  # a worker lost its database connection (an outage, not a failure of the job)
    throttle: str = ""  # the throttle's state and reason, for the card
    throttle_history: deque[str] = field(default_factory=lambda: deque(maxlen=200))  # each change, for the logs
    batch_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))  # how long batches held locks
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def batch_took(self, took_ms: float, next_size: int) -> None:
        with self.lock:
            self.max_batch_ms = max(self.max_batch_ms, took_ms)
            self.batch_ms.append(took_ms)
            self.batch_size = next_size

    def lock_retry(self) -> None:
        with self.lock:
            self.lock_retries += 1

    def failed(self, why: str) -> None:
        with self.lock:
            self.errors.append(why)

    def connection_lost(self, why: str) -> None:
        with self.lock:
            self.lost = self.lost or why


Reporter = Callable[[BackfillRun, Progress, Stats], None]


def verified(db: EnvironmentDatabase, job: BackfillJob, run: BackfillRun) -> tuple[RunStatus, str | None]:
    """The verification query's verdict: no rows left to do, or how many."""
    try:
        left = db.scalar(job.verify_sql)
    except Exception as exc:
        return RunStatus.FAILED, unexpected(exc, f"verification of backfill run {run.id}")
    if left == 0:
        return RunStatus.VERIFIED, None
    return RunStatus.FAILED, f"the verification query still finds {left:g} rows to do"


def unexpected(exc: Exception, where: str) -> str:
    """One plain sentence for Slack; the details go to the log under a reference."""
    ref = uuid.uuid4().hex[:8]
    log.error("%s stopped (ref %s)", where, ref, exc_info=exc)
    return f"a batch failed with {type(exc).__name__} (ref {ref}; the logs have details)"
