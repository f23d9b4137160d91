"""A queued ``/zdm backfill start`` (``commands.queue``): started later exactly as it was asked, once."""

from __future__ import annotations

from commands.backfill.args import parse_backfill_args
from commands.backfill.service import BackfillService
from commands.queue.model import QueueItem


class QueuedBackfills:
    """The queue's starter for backfills: a run holds its database while it is running or paused."""

    def __init__(self, service: BackfillService) -> None:
        self._service = service

    def start_queued(self, item: QueueItem) -> tuple[int | None, str]:
        request = parse_backfill_args(item.args)
        assert request.env is not None
        run = self._service.start(
            env=request.env, job=request.job, actor=item.requester, override=request.reason,
            max_speed=request.max_speed,
        )  # fmt: skip
        return run.id, f"Backfill #{run.id} of `{run.job}` on `{run.env}` is {run.status.value}."

    def find_started(self, item: QueueItem) -> int | None:
        """The run a start interrupted by a crash created: this job and environment, by the requester, created
        since the item was claimed."""
        request = parse_backfill_args(item.args)
        run = self._service.latest(job=request.job, env=request.env or "")
        if run is None or item.started_at is None:
            return None
        return run.id if run.started_by == item.requester and run.created_at >= item.started_at else None

    def still_active(self, ref: int) -> bool:
        run = self._service.get(ref)
        return run is not None and run.status.active

    def after_start(self, ref: int) -> None:
        run = self._service.get(ref)
        if run is not None:
            self._service.announce(run)
