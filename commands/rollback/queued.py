"""The schema step of a rollback in the target database's queue (``commands.queue``): it jumps ahead of queued
deploys and backfills and waits only for the work running there; the scheduler sets it going when it is free."""

from __future__ import annotations

from commands.queue.model import QueueItem
from commands.rollback.model import Step
from commands.rollback.ports import RollbackRepository
from commands.rollback.service import RollbackService


class QueuedSchemaRollbacks:
    """The queue's starter for schema rollbacks: the item names its rollback from the start."""

    def __init__(self, service: RollbackService, repo: RollbackRepository) -> None:
        self._service = service
        self._repo = repo

    def start_queued(self, item: QueueItem) -> tuple[int | None, str]:
        return item.ref, ""  # marked running: the rollback's next run applies the step (``after_start``)

    def find_started(self, item: QueueItem) -> int | None:
        return item.ref

    def still_active(self, ref: int) -> bool:
        rollback = self._repo.get(ref)
        return rollback is not None and not rollback.result(Step.SCHEMA_ROLLBACK).status.done

    def after_start(self, ref: int) -> None:
        self._service.run(ref)
