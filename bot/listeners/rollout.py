"""``/zdm rollout …`` and the Approve / Deny buttons on its prompts (Deny asks for a reason in a modal)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.listeners.guard import AfterAck, failure_text, request_ref, run_guarded
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from bot.logs import current_ref
from commands.breakglass.model import split_break_glass
from commands.errors import UserError
from commands.rollout.args import ROLLOUT_ARGS
from commands.rollout.service import RolloutService
from commands.rollout.views import APPROVE_ACTION, DENY_ACTION, DENY_VIEW
from commands.text import slack_escape

log = logging.getLogger(__name__)
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
MAX_REASON = 300


def register(app: App, registry: CommandRegistry, rollouts: RolloutService, after_ack: AfterAck) -> None:
    @registry.command("rollout", grammar=ROLLOUT_ARGS)
    def rollout_command(ctx: CommandContext) -> Reply:
        """Enable the flag tenant cohort by cohort on the plan's cadence (runbook §4). Each step posts an approval
        prompt with KPI evidence in the release channel; `pause` stops the clock, `abort` stops the rollout,
        `include` brings back a tenant held out after a rollback, `status` tells the whole story; `approve
        --break-glass` approves the current step past its KPI gate and rollback readiness once a `platform_lead`
        (not you) confirms it on its card."""
        rest, reason = split_break_glass(ctx.args)
        if reason is not None:  # `approve [#id] --break-glass "<reason>"`: a second person confirms on a card
            text, card, then = ctx.services.breakglass.request(
                action="rollout.approve", text=rest, reason=reason, actor=ctx.user
            )
            return Reply(text=text, card=card, then=then)
        rollouts = ctx.services.rollouts
        text, card, then = rollouts.command(text=ctx.args, actor=ctx.user, correlation_id=ctx.ref)
        return Reply(text=text, card=card, then=then)

    after_ack.button(app, APPROVE_ACTION, rollouts.approve)

    @app.action(DENY_ACTION)
    def deny(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        """The reason dialog opens here, not after the ack: its trigger id expires within 3 seconds."""
        ack()
        channel = (body.get("channel") or {}).get("id", "")

        def open_dialog() -> None:
            value, user = after_ack.screen.button(body, ref=current_ref())
            rollout = rollouts.check_decidable(value=value, actor=user)
            client.views_open(trigger_id=body["trigger_id"], view=deny_modal(value, channel, rollout.id))

        run_guarded(open_dialog, respond=respond)

    @app.view(DENY_VIEW)
    def deny_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        view, user = body["view"], body["user"]["id"]
        value, _, channel = str(view.get("private_metadata", "")).partition("|")
        ref = request_ref()
        try:
            typed = _typed_reason(view)
            value, _ = after_ack.screen.button({"user": body.get("user"), "actions": [{"value": value}]}, ref=ref)
            # what the person wrote is posted in the release channel: shown as written, never as a ping or a link
            reason = slack_escape(after_ack.screen.text(typed, actor=user, what="reason", ref=ref, limit=MAX_REASON))
            rollouts.check_decidable(value=value, actor=user)  # a stale dialog says so inside it
        except UserError as exc:
            ack(response_action="errors", errors={REASON_BLOCK: str(exc)})
            return
        except Exception as exc:
            log.exception("internal error checking a denial of %s (ref %s)", value, ref)
            ack(response_action="errors", errors={REASON_BLOCK: failure_text(exc, ref)})
            return
        ack()

        def work() -> None:
            try:
                said = rollouts.deny(value=value, actor=user, reason=reason)
            except UserError as exc:
                said = str(exc)
            except Exception as exc:
                log.exception("internal error denying %s (ref %s)", value, ref)
                said = failure_text(exc, ref, after_ack=True)
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=said)

        after_ack.submit(work)


def _typed_reason(view: dict[str, Any]) -> object:
    values = (view.get("state") or {}).get("values") or {}
    block = values.get(REASON_BLOCK) if isinstance(values, dict) else None
    field = block.get(REASON_INPUT) if isinstance(block, dict) else None
    return field.get("value") if isinstance(field, dict) else None


def deny_modal(value: str, channel: str, rollout_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": f"{value}|{channel}",
        "title": {"type": "plain_text", "text": f"Deny rollout #{rollout_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Deny and stop"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why stop this rollout?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": MAX_REASON,
                },
            }
        ],
    }
