"""``/zdm alerts``: firing and recent alerts."""

from __future__ import annotations

from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.alerts.args import ALERTS_ARGS


def register(registry: CommandRegistry) -> None:
    @registry.command("alerts", grammar=ALERTS_ARGS)
    def alerts_command(ctx: CommandContext) -> Reply:
        """Firing and recent alerts (runbook §5). Rules come from `[alerts]` in zdm.toml; the default pages
        on-call when the error rate of the tenants with the flag on stays above 1 % for 5 minutes, posts one
        card in the release channel and pauses a running rollout."""
        text, card, then = ctx.services.alerts.command(text=ctx.args)
        return Reply(text=text, card=card, then=then)
