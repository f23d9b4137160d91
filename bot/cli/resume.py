"""What a (re)started zdm does first: continue interrupted work and refresh every stage's live card."""

from __future__ import annotations

import logging

from bot.bootstrap import Container

log = logging.getLogger("zdm")


def after_restart(container: Container) -> None:
    """Continue interrupted rollbacks, refresh (or re-post) pending rollout prompts and every stage's live card
    (backfill progress, schema deploys awaiting approval, rollbacks awaiting their schema confirmation, cleanups),
    and drop leftover scratch databases."""
    try:
        container.services.rollbacks.resume_unfinished()
        container.services.rollouts.relink_prompts()
    except Exception:
        log.exception("could not resume work after start-up")
    try:
        container.sweep_scratch_databases()
    except Exception:
        log.exception("could not sweep leftover scratch databases")
    services = container.services
    for stage, relink in (
        ("rollback", services.rollbacks.relink_cards),
        ("backfill", services.backfills.relink_cards),
        ("schema", services.schema.relink_cards),
        ("cleanup", services.cleanup.relink_cards),
    ):
        try:
            relink()
        except Exception:  # one stage's trouble must not keep the others' cards stale
            log.exception("could not refresh the %s cards after start-up", stage)
