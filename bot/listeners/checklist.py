"""``/zdm checklist <release>`` and the checkboxes on its card."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.bootstrap import Services
from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.cards import MessageRef
from commands.checklist.views import BLOCK_PREFIX, TICK_ACTION


def register(app: App, registry: CommandRegistry, services: Services, after_ack: AfterAck) -> None:
    @registry.command("checklist", usage="<release>")
    def checklist_command(ctx: CommandContext) -> Reply:
        """Post the release's pre-migration checklist (runbook §1). zdm checks the checkout itself — migration files,
        additive lint, backfill script, flag in the flags file, RFC and dashboards/alerts mentioning the release —
        and shows the evidence; the DBA review, security (RLS) review and staging load test are ticked on the card
        by a person holding the item's role, recorded with who and when. The card lists what blocks the
        migration."""
        text, card, then = ctx.services.checklist.command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)

    @app.action(TICK_ACTION)
    def tick(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        action, user = body["actions"][0], body["user"]["id"]
        release = str(action.get("block_id", "")).removeprefix(BLOCK_PREFIX)
        selected = [str(o.get("value", "")) for o in action.get("selected_options") or []]
        shown = _checked_on_card(body.get("message") or {}, block_id=str(action.get("block_id", "")))
        clicked = None if shown is None else shown.symmetric_difference(selected)
        container = body.get("container") or {}
        where = None
        if container.get("channel_id") and container.get("message_ts"):
            where = MessageRef(container["channel_id"], container["message_ts"])
        after_ack(
            lambda: services.checklist.tick(
                release=release, selected=selected, actor=user, message=where, clicked=clicked
            ),
            respond=respond,
        )


def _checked_on_card(message: dict[str, Any], *, block_id: str) -> set[str] | None:
    """The options checked on the card as the clicker's client showed it (Slack sends that message with the click),
    or None when the click came without it. The difference to ``selected_options`` is the option clicked."""
    for block in message.get("blocks") or []:
        if not isinstance(block, dict) or block.get("block_id") != block_id:
            continue
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == TICK_ACTION:
                return {str(o.get("value", "")) for o in element.get("initial_options") or [] if isinstance(o, dict)}
    return None
