"""General commands: help and tenant search."""

from __future__ import annotations

from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.cards import Card
from commands.general.args import HELP_ARGS, TENANTS_ARGS, parse_tenant_pattern

TENANT_LIMIT = 25


def register(registry: CommandRegistry) -> None:
    @registry.command("help", grammar=HELP_ARGS)
    def help_command(ctx: CommandContext) -> Reply:
        """List zdm's commands with what each one does."""
        lines = tuple(registry.help_lines())
        card = Card(title="zdm — zero-downtime migrations from Slack", lines=lines)
        return Reply(text="\n".join((card.title, *lines)), card=card)

    @registry.command("tenants", grammar=TENANTS_ARGS)
    def tenants_command(ctx: CommandContext) -> Reply:
        """Find tenants by slug; `*` matches any run of characters, `?` one character (e.g. `pilot_*`)."""
        pattern = parse_tenant_pattern(ctx.args)
        found = ctx.services.target.find_tenants(pattern, limit=TENANT_LIMIT + 1)
        if not found:
            return Reply(text=f"No tenant matches `{pattern}`.")
        shown = ", ".join(f"`{slug}`" for slug in found[:TENANT_LIMIT])
        more = f" (first {TENANT_LIMIT}; narrow the pattern to see others)" if len(found) > TENANT_LIMIT else ""
        return Reply(text=f"Tenants matching `{pattern}`{more}: {shown}")
