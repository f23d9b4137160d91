"""Timed jobs the metronome runs, and the table of them. Each job takes ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from commands.alerts.service import AlertService
from commands.backfill.service import BackfillService
from commands.breakglass.service import BreakGlassService
from commands.lighthouse.service import LighthouseService
from commands.outbox.service import OutboxService
from commands.ports import RequestLedger
from commands.queue.service import QueueService
from commands.rollback.degraded import DegradedRollbacks
from commands.rollback.service import RollbackService
from commands.rollout.service import RolloutService
from commands.schema.service import SchemaService
from scheduler.runner import TickJob

# Slack retries within minutes; a day of memory is plenty and keeps the ledger small.
LEDGER_RETENTION = timedelta(days=1)


def purge_request_ledger(ledger: RequestLedger) -> Callable[[datetime], int]:
    def job(now: datetime) -> int:
        return ledger.purge(older_than=LEDGER_RETENTION, now=now)

    return job


def job_table(
    *,
    ledger: RequestLedger,
    rollbacks: RollbackService,
    rollouts: RolloutService,
    backfills: BackfillService,
    schema: SchemaService,
    alerts: AlertService,
    lighthouse: LighthouseService,
    outbox: OutboxService,
    breakglass: BreakGlassService,
    queue: QueueService,
    degraded: DegradedRollbacks | None,
) -> dict[str, TickJob]:
    """What the metronome runs every tick, in this order (each job takes ``now``)."""
    return {
        # rollbacks run while the state database was down, written to it once it answers: first, so a flip in
        # the same tick already holds the tenant out
        "replay_degraded_rollbacks": lambda now: degraded.replay(now) if degraded else 0,
        "purge_request_ledger": purge_request_ledger(ledger),
        # rollbacks interrupted by a crash, and decisions recorded while another worker was busy
        "resume_rollbacks": lambda _now: rollbacks.resume_unfinished(),
        # prompts, reminders, KPI watching, unfinished flips; returns the next wake-up
        "advance_rollouts": rollouts.advance_due,
        # low-traffic windows, and running backfills nobody is executing (after a crash)
        "tend_backfills": backfills.tend,
        # schema deploys a crash left half-applied (each file is atomic; the history says where it stopped)
        "resume_schema_deploys": lambda _now: schema.resume_unfinished(),
        # alert rules with "for" semantics: page, #release card, pause rollouts; returns the next evaluation
        "evaluate_alerts": alerts.evaluate_due,
        # Lighthouse reports dropped into lighthouse.watch_dir
        "watch_lighthouse": lighthouse.poll_watch_dir,
        # recorded entries not delivered yet (GitHub was down): retried with backoff; returns the next retry
        "deliver_outbox": outbox.deliver_due,
        # break-glass actions a crash interrupted after their confirmation: said on the card, never re-run
        "settle_break_glass": lambda _now: breakglass.settle_interrupted(),
        # the per-database work queue: finish items whose work is over, start the next one where it is free
        "advance_queue": queue.advance,
    }
