"""When the outbox delivers a rollback's log entry later (e.g. after a GitHub outage), the card says so."""

from __future__ import annotations

import logging
from dataclasses import replace

from commands.cards import MessageRef
from commands.outbox.model import OutboxEntry
from commands.ports import Notifier
from commands.rollback.model import Step, StepStatus
from commands.rollback.ports import RollbackRepository
from commands.rollback.views import rollback_card

log = logging.getLogger(__name__)
SUBJECT = "rollback:"


class RollbackLogDelivered:
    """``OutboxPorts.on_delivered`` for rollback entries: "recorded; in PR #12" on the rollback's card."""

    def __init__(self, *, repo: RollbackRepository, notifier: Notifier) -> None:
        self._repo = repo
        self._notifier = notifier

    def __call__(self, entry: OutboxEntry) -> None:
        subject = entry.subject or ""
        if not subject.startswith(SUBJECT) or not subject[len(SUBJECT) :].isdigit():
            return
        rollback_id = int(subject[len(SUBJECT) :])
        with self._repo.exclusive(rollback_id) as mine:
            rollback = self._repo.get(rollback_id)
            if not mine or rollback is None or rollback.result(Step.ROLLBACK_LOG).status != StepStatus.OK:
                return  # the rollback is still running: its own log step reads the outbox's answer
            step = rollback.result(Step.ROLLBACK_LOG)
            rollback = rollback.with_step(replace(step, detail=f"recorded; {entry.state()}"))
            self._repo.save(rollback)
        if rollback.channel and rollback.message_ts:
            self._notifier.update(MessageRef(rollback.channel, rollback.message_ts), rollback_card(rollback))
