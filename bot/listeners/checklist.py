"""``/zdm checklist <release>`` and the checkboxes on its card."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from bot.listeners.screening import InputScreen
from bot.logs import current_ref
from commands.cards import MessageRef
from commands.checklist.args import CHECKLIST_ARGS
from commands.checklist.service import ChecklistService
from commands.checklist.views import BLOCK_PREFIX, TICK_ACTION


def register(app: App, registry: CommandRegistry, checklist: ChecklistService, after_ack: AfterAck) -> None:
    @registry.command("checklist", grammar=CHECKLIST_ARGS)
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

        def work() -> object:
            release, selected, user = _read_tick(body, after_ack.screen)
            block_id = str(_first_action(body).get("block_id", ""))
            message = body.get("message")
            shown = _checked_on_card(message if isinstance(message, dict) else {}, block_id=block_id)
            clicked = None if shown is None else shown.symmetric_difference(selected)
            container = body.get("container") or {}
            channel, ts = container.get("channel_id"), container.get("message_ts")
            where = MessageRef(channel, ts) if isinstance(channel, str) and isinstance(ts, str) and ts else None
            return checklist.tick(release=release, selected=selected, actor=user, message=where, clicked=clicked)

        after_ack(work, respond=respond)


def _read_tick(body: dict[str, Any], screen: InputScreen) -> tuple[str, list[str], str]:
    """The release, the option values checked after the click, and who clicked; a click zdm cannot read is
    refused (and audited) as a stale card."""
    ref = current_ref()
    action = _first_action(body)
    block, user = screen.button({**body, "actions": [{"value": action.get("block_id", "")}]}, ref=ref)
    options = action.get("selected_options") or []
    if not isinstance(options, list) or not all(isinstance(o, dict) for o in options):
        options = [{"value": None}]
    selected = [screen.button({**body, "actions": [{"value": o.get("value")}]}, ref=ref)[0] for o in options]
    return block.removeprefix(BLOCK_PREFIX), selected, user


def _first_action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    return actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}


def _checked_on_card(message: dict[str, Any], *, block_id: str) -> set[str] | None:
    """The options checked on the card as the clicker's client showed it (Slack sends that message with the click),
    or None when the click came without it. The difference to ``selected_options`` is the option clicked."""
    for block in _dicts(message.get("blocks")):
        if block.get("block_id") != block_id:
            continue
        for element in _dicts(block.get("elements")):
            if element.get("action_id") == TICK_ACTION:
                return {str(o.get("value", "")) for o in _dicts(element.get("initial_options"))}
    return None


def _dicts(items: object) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
