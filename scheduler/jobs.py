"""Timed jobs the metronome runs. Each takes ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from commands.adapters.state_pg import PgRequestLedger

# Slack retries within minutes; a day of memory is plenty and keeps the ledger small.
LEDGER_RETENTION = timedelta(days=1)


def purge_request_ledger(ledger: PgRequestLedger) -> Callable[[datetime], int]:
    def job(now: datetime) -> int:
        return ledger.purge(older_than=LEDGER_RETENTION, now=now)

    return job
