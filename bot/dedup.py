"""Slack retry de-duplication, shared by every replica through Postgres.

Slack re-sends a request it thinks timed out (``X-Slack-Retry-Num``) with the same payload. Bolt verifies the
signature but does not de-duplicate, so each request's identity (trigger id, event id or view id) is recorded in
``zdm.slack_requests`` before any listener runs; a request whose identity is already there is acknowledged and
dropped.

Commands that change nothing and answer entirely in the ack (``READ_ONLY``) skip the ledger: a retry of one is
answered again, which is what the person needs (Slack showed nothing for the late first answer), and their own
read is then the one database round trip before the ack. Those reads wait for a connection no longer than the
ledger would (``bounded_reads``), so a state-database outage still gets its plain answer within Slack's 3 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse

from bot.listeners.guard import database_down, request_ref, unavailable_text
from commands.adapters.locks import bounded_reads
from commands.adapters.state_pg import PgRequestLedger
from commands.ports import Clock

log = logging.getLogger(__name__)
STATE_DOWN = "zdm_state_database_down"  # set on a request's context when the ledger found the database down
# `/zdm` commands (first words) that only read and answer in the ack: no `then` work, no record, no post
READ_ONLY = frozenset({("help",), ("tenants",), ("rollout", "status"), ("rollout", "list")})


def request_identity(body: dict[str, Any]) -> tuple[str, str] | None:
    """``(kind, key)`` naming this request uniquely, or None when Slack gives no stable id."""
    if body.get("event_id"):
        return "event", f"event:{body['event_id']}"
    kind = body.get("type") or ("command" if body.get("command") else None)
    trigger = body.get("trigger_id")
    if trigger:
        return str(kind or "request"), f"trigger:{trigger}"
    view = body.get("view") or {}
    if kind == "view_submission" and view.get("id"):
        return "view_submission", f"view:{view['id']}:{view.get('hash', '')}"
    return None


def dedup_middleware(ledger: PgRequestLedger, clock: Clock) -> Callable[..., Any]:
    def deduplicate(
        body: dict[str, Any], context: BoltContext, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        identity = request_identity(body)
        if identity is None:
            return next()
        kind, key = identity
        if read_only(body):
            with bounded_reads(ledger.wait_s):
                return next()
        try:
            first = ledger.first_time(key=key, kind=kind, at=clock.now())
        except Exception as exc:
            if not database_down(exc):
                raise
            if _degraded_rollback(body):  # fails open: the rollback's journal recognises a retry by its trigger id
                log.warning("state database unavailable; %s goes on to the degraded rollback", key)
                context[STATE_DOWN] = True  # the rollback need not wait for the database a second time
                return next()
            ref = request_ref()
            log.warning("state database unavailable; answered %s with 'retrying' (ref %s): %s", key, ref, exc)
            return BoltResponse(status=200, body=unavailable_text(ref))
        if first:
            return next()
        log.info("ignoring duplicate Slack request %s", key)
        return BoltResponse(status=200, body="")

    return deduplicate


def read_only(body: dict[str, Any]) -> bool:
    """``/zdm help``, ``tenants …``, ``rollout status …`` or ``rollout list``, without any ``--`` option."""
    text = str(body.get("text") or "")
    if body.get("command") != "/zdm" or "--" in text:
        return False
    words = tuple(text.lower().split()[:2])
    return not words or words[:1] in READ_ONLY or words in READ_ONLY


def _degraded_rollback(body: dict[str, Any]) -> bool:
    """``/zdm rollback tenant …``: the one request that runs without the state database (degraded mode)."""
    words = str(body.get("text") or "").split()
    return body.get("command") == "/zdm" and words[:2] == ["rollback", "tenant"] and bool(body.get("trigger_id"))
