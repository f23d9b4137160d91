"""The ``/zdm`` slash command: authorise and validate before Slack's 3 s ack, do the work after it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.bootstrap import Services
from bot.dedup import STATE_DOWN, read_only
from bot.listeners.guard import AfterAck, failure_text, request_ref
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from bot.render import card_blocks
from commands.errors import UserError
from commands.text import printable

log = logging.getLogger(__name__)


def register(app: App, registry: CommandRegistry, services: Services, after_ack: AfterAck) -> None:
    @app.command("/zdm")
    def zdm(ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        ref = request_ref()
        try:
            text = after_ack.screen.command(command.get("text", ""), actor=command["user_id"], ref=ref)
            entry, args = registry.resolve(text)
            reply = entry.handler(
                CommandContext(
                    args=args,
                    user=command["user_id"],
                    channel=command.get("channel_id", ""),
                    ref=ref,
                    services=services,
                    request_id=str(command.get("trigger_id") or ""),
                    state_down=bool(context.get(STATE_DOWN)),
                )
            )
            if reply.then is not None and read_only(command):  # it skipped the ledger: a retry would do it twice
                raise RuntimeError(f"/zdm {entry.name} is listed in bot.dedup.READ_ONLY but has work after the ack")
        except UserError as exc:
            ack(response_type="ephemeral", text=str(exc))
            return
        except Exception as exc:
            log.exception("internal error in /zdm %s (ref %s)", printable(str(command.get("text", "")), limit=60), ref)
            ack(response_type="ephemeral", text=failure_text(exc, ref))
            return
        ack(**_ack_payload(reply))
        if reply.then is not None:
            after_ack(reply.then, respond=respond, ref=ref)


def _ack_payload(reply: Reply) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "response_type": "in_channel" if reply.public else "ephemeral",
        "text": reply.text,
    }
    if reply.card is not None:
        payload["blocks"] = card_blocks(reply.card)
    return payload
