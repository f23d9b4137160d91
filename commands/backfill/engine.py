"""The backfill engine: workers run keyset batches over disjoint key ranges; a coordinator watches the rules.

Each batch commits together with its checkpoint (see ``EnvironmentDatabase.run_batch``). The coordinator polls the
run record (pause / cancel / batch size from Slack), the progress, the load query and the abort rules; anything that
stops the run stops it *paused*, with the checkpoint, never half-way through a batch.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from commands.backfill.config import BackfillJob, EngineConfig
from commands.backfill.governor import Governor
from commands.backfill.model import (
    BackfillRun,
    Progress,
    RunStatus,
    abort_reason,
    legacy_progress,
    load_decision,
    next_batch_size,
)
from commands.backfill.ports import (
    BackfillRuns,
    Cancellable,
    EnvironmentDatabase,
    Probe,
    RowLockTimeout,
    RuntimeLimitReached,
)
from commands.ports import Clock, OutageCheck

log = logging.getLogger(__name__)
POLL_S = 0.2


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
CHANGED_ELSEWHERE = "the run was paused or cancelled from Slack"  # the command already recorded why


class BackfillEngine:
    def __init__(
        self,
        *,
        job: BackfillJob,
        cfg: EngineConfig,
        checkpoints: EnvironmentDatabase,
        runs: BackfillRuns,
        clock: Clock,
        report: Reporter,
        outage: OutageCheck,
    ) -> None:
        self._job = job
        self._cfg = cfg
        self._cp = checkpoints
        self._runs = runs
        self._clock = clock
        self._report = report
        self._outage = outage  # a database went away (the run waits) vs. anything else (the run pauses)
        self.stats: Stats | None = None  # the last run's figures (longest batch, speed), for benchmarks and logs

    def run(self, run_id: int, *, halt: threading.Event | None = None) -> BackfillRun:
        """Work until the run is complete, paused or cancelled, or until ``halt`` (this process shuts down: the
        current batches commit and the run stays *running* for the next process); return the run as saved."""
        run = self._runs.get(run_id)
        assert run is not None
        if run.resumed_at is None:  # continuing after a shutdown: the clock runs again from now
            now = self._clock.now()
            self._runs.update(run_id, expect=(RunStatus.RUNNING,), resumed_at=now)
            run = replace(run, resumed_at=now)
        halt = halt or threading.Event()
        if self._job.legacy_sql is not None:
            return self._run_legacy(run, halt)
        stats = self.stats = Stats(batch_size=run.batch_size or self._cfg.start_batch, pinned=run.batch_size)
        stop, wait = threading.Event(), threading.Event()
        workers: list[threading.Thread] = []
        pause_reason: str | None = None
        governor: Governor | None = None
        try:
            ranges = self._cp.prepare(run_id, self._job)
            checkpoints = [cp for cp in ranges if not cp.finished]
            low, high = min(cp.after_key for cp in ranges) + 1, max(cp.upto_key for cp in ranges)
            probe = Probe(self._job.table, self._job.key, low, high) if ranges and low <= high else None
            governor = Governor(
                self._cfg,
                db=self._cp,
                run_id=run_id,
                workers=max(1, len(checkpoints)),
                max_speed=run.max_speed,
                probe=probe,
            )
            for cp in checkpoints:
                args = (run_id, cp.worker, stats, stop, wait, governor)
                workers.append(threading.Thread(target=self._work, args=args, daemon=True))
            governor.start(halt)
            stats.throttle = governor.describe()
            for worker in workers:
                worker.start()
            pause_reason = self._coordinate(run, workers, stats, stop, wait, halt, governor)
        except Exception as exc:  # whatever happens, the workers stop and the run pauses with its checkpoint
            if self._outage(exc):
                stats.connection_lost(f"{type(exc).__name__}: {exc}")
            else:
                pause_reason = unexpected(exc, f"backfill run {run_id}")
        finally:
            stop.set()
            for worker in workers:
                if worker.ident is not None:  # started
                    worker.join()
            if governor is not None:
                governor.stop()
        if stats.lost is not None and not stats.errors:
            return self._interrupted(run, stats.lost)
        if pause_reason == CHANGED_ELSEWHERE:  # a quick resume may already have set it running again: leave it
            fresh = self._runs.get(run_id) or run
            self._safe_report(fresh, self._cp.progress(run_id), stats)
            return fresh
        return self._finish(run_id, stats, pause_reason, halted=halt.is_set() and pause_reason is None)

    # --- coordinator -------------------------------------------------------------------------------------------

    def _coordinate(
        self,
        run: BackfillRun,
        workers: list[threading.Thread],
        stats: Stats,
        stop: threading.Event,
        wait: threading.Event,
        halt: threading.Event,
        governor: Governor,
    ) -> str | None:
        started, start_done = time.monotonic(), self._cp.progress(run.id).done
        last_report = 0.0
        seen_override = run.batch_size
        while any(w.is_alive() for w in workers) and not halt.is_set():
            fresh = self._runs.get(run.id)
            if fresh is None or fresh.status != RunStatus.RUNNING:
                return CHANGED_ELSEWHERE
            if fresh.batch_size and fresh.batch_size != seen_override:
                seen_override = stats.batch_size = stats.pinned = fresh.batch_size
            if stats.errors or stats.lost:
                return None
            progress = self._cp.progress(run.id)
            now = self._clock.now()
            reason = abort_reason(
                fresh.since_stretch(progress), self._audit_errors(run), fresh.stretch_at(now), self._cfg
            )
            decision = load_decision(self._load(), self._cfg)
            if decision == "stop":
                reason = f"database load reached {self._cfg.load_stop_at:g}, the configured critical level"
            if reason:
                return reason
            stats.throttled = decision == "wait"
            wait.clear() if decision == "run" else wait.set()
            governor.look()
            described = governor.describe()
            if described != stats.throttle:
                stats.throttle = described
                stats.throttle_history.append(described)
            elapsed = time.monotonic() - started
            stats.rows_per_s = (progress.done - start_done) / elapsed if elapsed > 0 else 0.0
            if time.monotonic() - last_report >= self._cfg.progress_every_s:
                last_report = time.monotonic()
                self._safe_report(fresh, progress, stats)
            for worker in workers:
                worker.join(POLL_S / len(workers))
        return None

    def _interrupted(self, run: BackfillRun, why: str) -> BackfillRun:
        """A database went away: every committed batch is in the checkpoints. The run stays *running*, so the
        scheduler's next tick after the outage continues it (nothing to resume by hand)."""
        log.warning("backfill run %s interrupted, database unavailable (%s); it continues when it is back", run.id, why)
        try:
            fresh = self._runs.get(run.id) or run
            if fresh.status == RunStatus.RUNNING:
                now = self._clock.now()
                self._runs.update(run.id, expect=(RunStatus.RUNNING,), runtime=fresh.runtime_at(now), resumed_at=None)
            return self._runs.get(run.id) or fresh
        except Exception as exc:
            if not self._outage(exc):
                raise
            return run  # the state database is the one away: the run record is as it was

    def _finish(self, run_id: int, stats: Stats, pause_reason: str | None, *, halted: bool) -> BackfillRun:
        now = self._clock.now()
        fresh = self._runs.get(run_id)
        assert fresh is not None
        progress = self._cp.progress(run_id)
        if fresh.status == RunStatus.RUNNING:
            if halted and not progress.complete and not stats.errors:
                self._runs.update(run_id, expect=(RunStatus.RUNNING,), runtime=fresh.runtime_at(now), resumed_at=None)
            else:
                status, reason = self._outcome(fresh, progress, stats, pause_reason, now)
                self._runs.update(
                    run_id,
                    expect=(RunStatus.RUNNING,),
                    status=status,
                    reason=reason,
                    runtime=fresh.runtime_at(now),
                    resumed_at=None,
                )
            fresh = self._runs.get(run_id) or fresh
        self._safe_report(fresh, progress, stats)
        return fresh

    def _outcome(
        self, run: BackfillRun, progress: Progress, stats: Stats, pause_reason: str | None, now: datetime
    ) -> tuple[RunStatus, str | None]:
        """Paused (with why), verified, or failed verification. The abort rules are judged once more on the final
        figures: workers can finish between two of the coordinator's looks."""
        reason = stats.errors[0] if stats.errors else pause_reason
        if reason is None:
            reason = abort_reason(run.since_stretch(progress), self._audit_errors(run), run.stretch_at(now), self._cfg)
        if reason is not None:
            return RunStatus.PAUSED, reason
        if not progress.complete:
            return RunStatus.PAUSED, "its workers stopped before every key range was done"
        return self._verified(run)

    def _run_legacy(self, run: BackfillRun, halt: threading.Event) -> BackfillRun:
        """Legacy mode: one statement, no checkpoint, cut off at the runtime limit (statement_timeout). Pause,
        cancel and shutdown cancel it (rolled back); the statement is never left running behind a new attempt."""
        stats = self.stats = Stats(batch_size=0)
        sessions: list[Cancellable] = []
        outcome: list[BaseException] = []
        timeout_ms = int(self._cfg.max_runtime.total_seconds() * 1000)

        def statement() -> None:
            try:
                self._cp.run_legacy(self._job, run.id, timeout_ms=timeout_ms, started=sessions.append)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=statement, daemon=True)
        worker.start()
        stopped_here = False
        while worker.is_alive():
            worker.join(POLL_S)
            fresh = self._runs.get(run.id)
            if worker.is_alive() and (halt.is_set() or fresh is None or fresh.status != RunStatus.RUNNING):
                stopped_here = True
                for session in sessions:
                    session.cancel_safe()
                worker.join()
        fresh = self._runs.get(run.id) or run
        if stopped_here:
            if halt.is_set() and fresh.status == RunStatus.RUNNING:  # shutting down: the next start runs it again
                now = self._clock.now()
                self._runs.update(run.id, expect=(RunStatus.RUNNING,), runtime=fresh.runtime_at(now), resumed_at=None)
            return self._runs.get(run.id) or fresh
        error = outcome[0] if outcome else None
        status: RunStatus
        reason: str | None
        if isinstance(error, RuntimeLimitReached):
            limit = int(self._cfg.max_runtime.total_seconds() // 60)
            status = RunStatus.PAUSED
            reason = f"it reached the {limit}-minute runtime limit (statement_timeout) and was rolled back"
        elif isinstance(error, Exception):
            status, reason = RunStatus.PAUSED, unexpected(error, f"legacy backfill run {run.id}")
        else:
            status, reason = self._verified(run)
        now = self._clock.now()
        self._runs.update(
            run.id,
            expect=(RunStatus.RUNNING,),
            status=status,
            reason=reason,
            runtime=fresh.runtime_at(now),
            resumed_at=None,
        )
        fresh = self._runs.get(run.id) or run
        self._safe_report(fresh, legacy_progress(fresh), stats)
        return fresh

    def _verified(self, run: BackfillRun) -> tuple[RunStatus, str | None]:
        try:
            left = self._cp.scalar(self._job.verify_sql)
        except Exception as exc:
            return RunStatus.FAILED, unexpected(exc, f"verification of backfill run {run.id}")
        if left == 0:
            return RunStatus.VERIFIED, None
        return RunStatus.FAILED, f"the verification query still finds {left:g} rows to do"

    # --- workers -----------------------------------------------------------------------------------------------

    def _work(
        self,
        run_id: int,
        worker: int,
        stats: Stats,
        stop: threading.Event,
        wait: threading.Event,
        governor: Governor,
    ) -> None:
        cfg = self._cfg
        try:
            with self._cp.connect() as conn:
                size, retries = stats.batch_size, 0
                while not stop.is_set():
                    if wait.is_set():
                        stop.wait(POLL_S)
                        continue
                    if not governor.slots.acquire(POLL_S):  # the throttle runs fewer workers than there are
                        continue
                    try:  # a batch and the pause after it hold the slot: that is what bounds the duty cycle
                        pinned = stats.pinned
                        if pinned:
                            size = pinned
                        settings = governor.settings
                        try:
                            result = self._cp.run_batch(
                                conn, self._job, run_id, worker, limit=size, lock_timeout_ms=cfg.lock_timeout_ms
                            )
                        except RowLockTimeout:
                            retries += 1
                            stats.lock_retry()
                            if retries > cfg.lock_retries:
                                raise
                            size = max(cfg.min_batch, size // 2)
                            continue
                        retries = 0
                        if not stats.pinned:
                            size = next_batch_size(size, result.took_ms, cfg, target_ms=settings.batch_ms)
                        stats.batch_took(result.took_ms, size)
                        if result.finished:
                            return
                        if settings.pause_ms:
                            stop.wait(settings.pause_ms / 1000)
                    finally:
                        governor.slots.release()
        except Exception as exc:
            if self._outage(exc):
                stats.connection_lost(f"{type(exc).__name__}: {exc}")
            else:
                stats.failed(unexpected(exc, f"backfill run {run_id} worker {worker}"))
            stop.set()

    # --- readings ----------------------------------------------------------------------------------------------

    def _audit_errors(self, run: BackfillRun) -> int:
        """Anomalies since the current stretch began (so a resume after fixing the cause starts clean)."""
        if not self._job.audit_errors_sql:
            return 0
        since = run.stretch_since or run.created_at
        return int(self._cp.scalar(self._job.audit_errors_sql, {"since": since}) or 0)

    def _load(self) -> float | None:
        return self._cp.scalar(self._cfg.load_sql) if self._cfg.load_sql else None

    def _safe_report(self, run: BackfillRun, progress: Progress, stats: Stats) -> None:
        try:
            self._report(run, progress, stats)
        except Exception:  # Slack trouble never stops a backfill
            log.warning("could not report progress of backfill run %s", run.id, exc_info=True)


def unexpected(exc: Exception, where: str) -> str:
    """One plain sentence for Slack; the details go to the log under a reference."""
    ref = uuid.uuid4().hex[:8]
    log.error("%s stopped (ref %s)", where, ref, exc_info=exc)
    return f"a batch failed with {type(exc).__name__} (ref {ref}; the logs have details)"
