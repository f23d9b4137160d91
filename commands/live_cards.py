"""Live cards: a stage's one ``#release`` message, updated in place and posted again when Slack no longer has it.

Every stage that keeps a card (backfill progress, a schema deploy awaiting approval, a rollback awaiting its
schema confirmation, a cleanup awaiting approval) shows it through ``show_card``, so a deleted message, a
restarted local Slack emulator or a card that never got out is re-posted once, never retried as a traceback.
"""

from __future__ import annotations

import logging

from commands.cards import Card, MessageRef
from commands.ports import MessageGone, Notifier

log = logging.getLogger(__name__)


def show_card(notifier: Notifier, *, ref: MessageRef | None, channel: str, card: Card, what: str) -> MessageRef:
    """Update ``ref`` with ``card``; post it to ``channel`` instead when there is no message (any more). Returns
    where the card is now, which the caller stores when it changed."""
    if ref is not None:
        try:
            notifier.update(ref, card)
            return ref
        except MessageGone as exc:
            log.warning("the card of %s is gone (%s); posting it again", what, exc)
    return notifier.post(channel, card)


def stored_ref(channel: str | None, ts: str | None) -> MessageRef | None:
    return MessageRef(channel, ts) if channel and ts else None
