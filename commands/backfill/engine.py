"""The backfill engine: workers run keyset batches over disjoint key ranges; a coordinator watches the rules.

Each batch commits together with its checkpoint (see ``EnvironmentDatabase.run_batch``). The coordinator polls the
run record (pause / cancel / batch size from Slack), the progress, the load query and the abort rules; anything that
stops the run stops it *paused*, with the checkpoint, never half-way through a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime

from commands.backfill.config import BackfillJob, EngineConfig
from commands.backfill.governor import Governor
from commands.backfill.legacy import LegacyRun
from commands.backfill.model import (
    BackfillRun,
    Progress,
    RunStatus,
    abort_reason,
    legacy_progress,
    load_decision,
    next_batch_size,
)
from commands.backfill.ports import BackfillRuns, EnvironmentDatabase, Probe, RowLockTimeout
from commands.backfill.stats import Reporter, Stats, unexpected, verified
from commands.ports import Clock, OutageCheck

log = logging.getLogger(__name__)
POLL_S = 0.2


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
            stats = self.stats = Stats(batch_size=0)
            legacy = LegacyRun(job=self._job, cfg=self._cfg, db=self._cp, runs=self._runs, clock=self._clock)
            fresh, ended = legacy.run(run, halt, stats)
            if ended:
                self._safe_report(fresh, legacy_progress(fresh), stats)
            return fresh
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
        return verified(self._cp, self._job, run)

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
                            with governor.batch():
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
