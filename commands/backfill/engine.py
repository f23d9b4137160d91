"""The backfill engine: workers run keyset batches over disjoint key ranges; a coordinator watches the rules.

Each batch commits together with its checkpoint (see ``commands.adapters.backfill_pg``). The coordinator polls the
run record (pause / cancel / batch size from Slack), the progress, the load query and the abort rules; anything that
stops the run stops it *paused*, with the checkpoint, never half-way through a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import psycopg

from commands.adapters.backfill_pg import PgBackfillRuns, PgCheckpoints
from commands.backfill.config import BackfillJob, EngineConfig
from commands.backfill.model import BackfillRun, Progress, RunStatus, abort_reason, load_decision, next_batch_size
from commands.ports import Clock

log = logging.getLogger(__name__)
POLL_S = 0.2


@dataclass
class Stats:
    """What the progress card shows besides the checkpoints."""

    batch_size: int
    pinned: int | None = None  # `/zdm backfill set batch-size N`: fixed from the next batch on
    throttled: bool = False
    max_batch_ms: float = 0.0
    rows_per_s: float = 0.0
    lock_retries: int = 0
    errors: list[str] = field(default_factory=list)


Reporter = Callable[[BackfillRun, Progress, Stats], None]


class BackfillEngine:
    def __init__(
        self,
        *,
        job: BackfillJob,
        cfg: EngineConfig,
        checkpoints: PgCheckpoints,
        runs: PgBackfillRuns,
        clock: Clock,
        report: Reporter,
    ) -> None:
        self._job = job
        self._cfg = cfg
        self._cp = checkpoints
        self._runs = runs
        self._clock = clock
        self._report = report
        self.stats: Stats | None = None  # the last run's figures (longest batch, speed), for benchmarks and logs

    def run(self, run_id: int, *, halt: threading.Event | None = None) -> BackfillRun:
        """Work until the run is complete, paused or cancelled, or until ``halt`` (this process shuts down: the
        current batches commit and the run stays *running* for the next process); return the run as saved."""
        run = self._runs.get(run_id)
        assert run is not None
        if run.resumed_at is None:  # continuing after a shutdown: the clock runs again from now
            run = replace(run, resumed_at=self._clock.now())
            self._runs.save(run)
        halt = halt or threading.Event()
        stats = self.stats = Stats(batch_size=run.batch_size or self._cfg.start_batch, pinned=run.batch_size)
        stop, wait = threading.Event(), threading.Event()
        workers = [
            threading.Thread(target=self._work, args=(run_id, cp.worker, stats, stop, wait), daemon=True)
            for cp in self._cp.prepare(run_id, self._job)
            if not cp.finished
        ]
        for worker in workers:
            worker.start()
        pause_reason = self._coordinate(run, workers, stats, stop, wait, halt)
        stop.set()
        for worker in workers:
            worker.join()
        return self._finish(run_id, stats, pause_reason, halted=halt.is_set())

    # --- coordinator -------------------------------------------------------------------------------------------

    def _coordinate(
        self,
        run: BackfillRun,
        workers: list[threading.Thread],
        stats: Stats,
        stop: threading.Event,
        wait: threading.Event,
        halt: threading.Event,
    ) -> str | None:
        started, start_done = time.monotonic(), self._cp.progress(run.id).done
        last_report = 0.0
        seen_override = run.batch_size
        while any(w.is_alive() for w in workers) and not halt.is_set():
            fresh = self._runs.get(run.id)
            if fresh is None or fresh.status != RunStatus.RUNNING:
                return None  # paused or cancelled from Slack: its reason is already recorded
            if fresh.batch_size and fresh.batch_size != seen_override:
                seen_override = stats.batch_size = stats.pinned = fresh.batch_size
            if stats.errors:
                return None
            progress = self._cp.progress(run.id)
            reason = abort_reason(progress, self._audit_errors(run), fresh.runtime_at(self._clock.now()), self._cfg)
            decision = load_decision(self._load(), self._cfg)
            if decision == "stop":
                reason = f"database load reached {self._cfg.load_stop_at:g}, the configured critical level"
            if reason:
                return reason
            stats.throttled = decision == "wait"
            wait.clear() if decision == "run" else wait.set()
            elapsed = time.monotonic() - started
            stats.rows_per_s = (progress.done - start_done) / elapsed if elapsed > 0 else 0.0
            if time.monotonic() - last_report >= self._cfg.progress_every_s:
                last_report = time.monotonic()
                self._safe_report(fresh, progress, stats)
            for worker in workers:
                worker.join(POLL_S / len(workers))
        return None

    def _finish(self, run_id: int, stats: Stats, pause_reason: str | None, *, halted: bool) -> BackfillRun:
        now = self._clock.now()
        fresh = self._runs.get(run_id)
        assert fresh is not None
        progress = self._cp.progress(run_id)
        if halted and fresh.status == RunStatus.RUNNING and not progress.complete and not stats.errors:
            fresh = replace(fresh, runtime=fresh.runtime_at(now), resumed_at=None)
            self._runs.save(fresh)
        elif fresh.status == RunStatus.RUNNING:
            runtime = fresh.runtime_at(now)
            if stats.errors:
                fresh = replace(fresh, status=RunStatus.FAILED, reason=stats.errors[0])
            elif pause_reason:
                fresh = replace(fresh, status=RunStatus.PAUSED, reason=pause_reason)
            elif progress.complete:
                left = self._cp.scalar(self._job.verify_sql)
                if left == 0:
                    fresh = replace(fresh, status=RunStatus.VERIFIED, reason=None)
                else:
                    fresh = replace(fresh, status=RunStatus.FAILED, reason=f"verification found {left:g} rows left")
            fresh = replace(fresh, runtime=runtime, resumed_at=None if fresh.status != RunStatus.RUNNING else now)
            self._runs.save(fresh)
        self._safe_report(fresh, progress, stats)
        return fresh

    # --- workers -----------------------------------------------------------------------------------------------

    def _work(self, run_id: int, worker: int, stats: Stats, stop: threading.Event, wait: threading.Event) -> None:
        cfg = self._cfg
        try:
            with self._cp.connect() as conn:
                size, retries = stats.batch_size, 0
                while not stop.is_set():
                    if wait.is_set():
                        stop.wait(POLL_S)
                        continue
                    pinned = stats.pinned
                    if pinned:
                        size = pinned
                    try:
                        result = self._cp.run_batch(
                            conn, self._job, run_id, worker, limit=size, lock_timeout_ms=cfg.lock_timeout_ms
                        )
                    except psycopg.errors.LockNotAvailable:
                        retries += 1
                        stats.lock_retries += 1
                        if retries > cfg.lock_retries:
                            raise
                        size = max(cfg.min_batch, size // 2)
                        continue
                    retries = 0
                    stats.max_batch_ms = max(stats.max_batch_ms, result.took_ms)
                    if not stats.pinned:
                        size = next_batch_size(size, result.took_ms, cfg)
                    stats.batch_size = size
                    if result.finished:
                        return
                    if cfg.pause_between_ms:
                        stop.wait(cfg.pause_between_ms / 1000)
        except Exception as exc:
            log.exception("backfill run %s worker %s failed", run_id, worker)
            stats.errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            stop.set()

    # --- readings ----------------------------------------------------------------------------------------------

    def _audit_errors(self, run: BackfillRun) -> int:
        if not self._job.audit_errors_sql:
            return 0
        return int(self._cp.scalar(self._job.audit_errors_sql, {"since": run.created_at}) or 0)

    def _load(self) -> float | None:
        return self._cp.scalar(self._cfg.load_sql) if self._cfg.load_sql else None

    def _safe_report(self, run: BackfillRun, progress: Progress, stats: Stats) -> None:
        try:
            self._report(run, progress, stats)
        except Exception:  # Slack trouble never stops a backfill
            log.warning("could not report progress of backfill run %s", run.id, exc_info=True)
