"""What every part of the rollback stage shares: the configuration and ports, the schema step, the rollback's card
in the release channel, and the role check and audit trail around each step and decision."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from commands.authz import require_role
from commands.cards import Card
from commands.config import RunbookConfig
from commands.live_cards import show_card, stored_ref
from commands.ports import AuditEvent
from commands.rollback.model import Rollback, RollbackStatus
from commands.rollback.ports import RollbackPorts
from commands.rollback.schema_step import SchemaStep
from commands.rollback.views import rollback_card

log = logging.getLogger(__name__)


class RollbackContext:
    def __init__(self, *, config: RunbookConfig, ports: RollbackPorts) -> None:
        self.config = config
        self.ports = ports
        self.schema_step = SchemaStep(config, ports.clock, ports.flags, ports.target, ports.audit)

    # --- who may, and what happened -------------------------------------------------------------------------

    def require(
        self, actor: str, roles: str | tuple[str, ...], *, action: str, subject: str, ref: str | None = None
    ) -> None:
        p = self.ports
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=roles, action=action, audit_action="rollback.refused",
            subject=subject, correlation_id=ref,
        )  # fmt: skip

    def audit(
        self, rollback: Rollback, action: str, outcome: str, detail: Mapping[str, object], *, actor: str | None = None
    ) -> None:
        event = AuditEvent(
            actor=actor or rollback.requested_by,
            action=action,
            subject=rollback.tenant,
            outcome=outcome,
            detail={"rollback_id": rollback.id, **detail},
            correlation_id=rollback.correlation_id,
        )
        self.ports.audit.record(event, at=self.ports.clock.now())

    # --- the card ---------------------------------------------------------------------------------------------

    def card(self, rollback: Rollback) -> Card:
        others: int | None = None
        if rollback.status == RollbackStatus.AWAITING:
            try:
                others = len(self.schema_step.others_on(rollback))
            except Exception:  # the card then says the count is unknown; the click re-checks it
                log.exception("could not count the tenants on `%s` for rollback %s", rollback.flag, rollback.id)
        return rollback_card(rollback, others_on=others)

    def ensure_message(self, rollback: Rollback) -> Rollback:
        """``rollback`` with its card posted (unchanged if it has one, or if Slack is down)."""
        if rollback.message_ts:
            return rollback
        try:
            ref = self.ports.notifier.post(self.config.channels.release, self.card(rollback))
        except Exception:  # Slack being down must not stop a mitigation; the record and log still happen
            log.exception("could not post rollback %s to %s", rollback.id, self.config.channels.release)
            return rollback
        rollback = replace(rollback, channel=ref.channel, message_ts=ref.ts)
        self.ports.repo.save(rollback)
        return rollback

    def refresh_message(self, rollback: Rollback) -> None:
        shown = stored_ref(rollback.channel, rollback.message_ts)
        if shown is None:
            return
        try:
            card, channel = self.card(rollback), self.config.channels.release
            ref = show_card(self.ports.notifier, ref=shown, channel=channel, card=card, what=f"rollback #{rollback.id}")
            if ref != shown:  # posted again (e.g. with its confirm buttons): keep the new message
                current = self.ports.repo.get(rollback.id) or rollback
                self.ports.repo.save(replace(current, channel=ref.channel, message_ts=ref.ts))
        except Exception:
            log.exception("could not update rollback %s message", rollback.id)

    def relink_cards(self) -> int:
        """After a restart: refresh the card of every unfinished rollback (re-posted if gone, buttons and all)."""
        repo = self.ports.repo
        unfinished = [r for rollback_id in repo.unfinished() if (r := repo.get(rollback_id))]
        for rollback in unfinished:
            self.refresh_message(rollback)
        return len(unfinished)
