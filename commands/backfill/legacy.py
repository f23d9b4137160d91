"""Legacy mode: a job's one statement (e.g. the runbook's ``select run_tenant_backfill(...)``), no checkpoint, cut off
at the runtime limit (``statement_timeout``). Pause, cancel and shutdown cancel it (rolled back); the statement is
never left running behind a new attempt."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from commands.backfill.config import BackfillJob, EngineConfig
from commands.backfill.model import BackfillRun, RunStatus
from commands.backfill.ports import BackfillRuns, Cancellable, EnvironmentDatabase, RuntimeLimitReached
from commands.backfill.stats import Stats, unexpected, verified
from commands.ports import Clock

POLL_S = 0.2


@dataclass(frozen=True)
class LegacyRun:
    """What a legacy run needs: the job, its limits, the database it runs in, the run records and the clock."""

    job: BackfillJob
    cfg: EngineConfig
    db: EnvironmentDatabase
    runs: BackfillRuns
    clock: Clock

    def run(self, run: BackfillRun, halt: threading.Event, stats: Stats) -> tuple[BackfillRun, bool]:
        """Run the statement until it ends or is stopped; the run as saved, and whether it ended by itself (the
        caller then reports it)."""
        sessions: list[Cancellable] = []
        outcome: list[BaseException] = []
        timeout_ms = int(self.cfg.max_runtime.total_seconds() * 1000)

        def statement() -> None:
            try:
                self.db.run_legacy(self.job, run.id, timeout_ms=timeout_ms, started=sessions.append)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=statement, daemon=True)
        worker.start()
        stopped_here = False
        while worker.is_alive():
            worker.join(POLL_S)
            fresh = self.runs.get(run.id)
            if worker.is_alive() and (halt.is_set() or fresh is None or fresh.status != RunStatus.RUNNING):
                stopped_here = True
                for session in sessions:
                    session.cancel_safe()
                worker.join()
        fresh = self.runs.get(run.id) or run
        if stopped_here:
            if halt.is_set() and fresh.status == RunStatus.RUNNING:  # shutting down: the next start runs it again
                now = self.clock.now()
                self.runs.update(run.id, expect=(RunStatus.RUNNING,), runtime=fresh.runtime_at(now), resumed_at=None)
            return self.runs.get(run.id) or fresh, False
        status, reason = self._outcome(run, outcome[0] if outcome else None)
        now = self.clock.now()
        self.runs.update(
            run.id,
            expect=(RunStatus.RUNNING,),
            status=status,
            reason=reason,
            runtime=fresh.runtime_at(now),
            resumed_at=None,
        )
        return self.runs.get(run.id) or run, True

    def _outcome(self, run: BackfillRun, error: BaseException | None) -> tuple[RunStatus, str | None]:
        if isinstance(error, RuntimeLimitReached):
            limit = int(self.cfg.max_runtime.total_seconds() // 60)
            return (
                RunStatus.PAUSED,
                f"it reached the {limit}-minute runtime limit (statement_timeout) and was rolled back",
            )
        if isinstance(error, Exception):
            return RunStatus.PAUSED, unexpected(error, f"legacy backfill run {run.id}")
        return verified(self.db, self.job, run)
