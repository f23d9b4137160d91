"""On-call rollback: ``/zdm rollback tenant <slug>`` and the schema-rollback confirm buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.bootstrap import Services
from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.errors import StalePrompt, UsageError
from commands.rollback.model import Rollback
from commands.rollback.views import CANCEL_ACTION, CONFIRM_ACTION


def register(app: App, registry: CommandRegistry, services: Services, after_ack: AfterAck) -> None:
    @registry.command("rollback", usage="tenant <slug> [--schema VERSION] [reason…] | cancel <id>")
    def rollback_command(ctx: CommandContext) -> Reply:
        """Mitigate one tenant now (on-call only): turn its flag off, restore the legacy views, re-run the smoke
        tests, optionally apply the paired `<VERSION>_*_rollback.sql` after a confirm button, and append an entry
        to the rollback log. Progress is posted in the release channel and updated in place. `cancel <id>` skips
        the schema step a rollback is waiting for (as its Skip button does), so it finishes."""
        words = ctx.args.split()
        if words[:1] == ["cancel"]:
            rollback_id = _rollback_id(words[1:])
            return Reply(
                text=f"Skipping the schema step of rollback #{rollback_id}…",
                then=lambda: _skipped(
                    services.rollbacks.decide_schema(rollback_id=rollback_id, actor=ctx.user, apply=False)
                ),
            )
        rollback = ctx.services.rollbacks.start(text=ctx.args, actor=ctx.user, correlation_id=ctx.ref)
        channel = ctx.services.config.channels.release
        return Reply(
            text=f"Rolling back `{rollback.tenant}` (rollback #{rollback.id}); progress in {channel}.",
            then=lambda: ctx.services.rollbacks.run(rollback.id),
        )

    def decide(apply: bool) -> Any:
        def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()
            value = body["actions"][0].get("value", "")

            def work() -> object:
                if not value.isdigit():
                    raise StalePrompt(what="the button does not name a rollback")
                return services.rollbacks.decide_schema(rollback_id=int(value), actor=body["user"]["id"], apply=apply)

            after_ack(work, respond=respond)

        return on_click

    app.action(CONFIRM_ACTION)(decide(True))
    app.action(CANCEL_ACTION)(decide(False))


def _rollback_id(words: list[str]) -> int:
    text = words[0].removeprefix("#") if len(words) == 1 else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise UsageError("Usage: `/zdm rollback cancel <id>`, e.g. `/zdm rollback cancel 2`.")
    return int(text)


def _skipped(rollback: Rollback | None) -> str:
    if rollback is None:
        return "That rollback no longer exists."
    return f"Rollback #{rollback.id} of `{rollback.tenant}` skipped its schema step and is {rollback.status.value}."
