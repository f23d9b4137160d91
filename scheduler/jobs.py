"""Timed jobs the metronome runs. Each takes ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from commands.adapters.state_pg import PgRequestLedger
from commands.backfill.service import BackfillService
from commands.rollback.service import RollbackService
from commands.rollout.service import RolloutService

# Slack retries within minutes; a day of memory is plenty and keeps the ledger small.
LEDGER_RETENTION = timedelta(days=1)


def purge_request_ledger(ledger: PgRequestLedger) -> Callable[[datetime], int]:
    def job(now: datetime) -> int:
        return ledger.purge(older_than=LEDGER_RETENTION, now=now)

    return job


def advance_rollouts(rollouts: RolloutService) -> Callable[[datetime], datetime | None]:
    """Prompts, reminders, escalations, KPI watching and unfinished flips; returns the next wake-up."""

    def job(now: datetime) -> datetime | None:
        return rollouts.advance_due(now)

    return job


def resume_rollbacks(rollbacks: RollbackService) -> Callable[[datetime], int]:
    """Rollbacks interrupted by a crash, and decisions recorded while another worker was busy."""

    def job(_now: datetime) -> int:
        return rollbacks.resume_unfinished()

    return job


def tend_backfills(backfills: BackfillService) -> Callable[[datetime], None]:
    """Low-traffic windows open and close; running backfills nobody is executing (after a crash) continue."""

    def job(now: datetime) -> None:
        backfills.tend(now)

    return job
