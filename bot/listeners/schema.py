"""``/zdm schema …`` and the Approve / Cancel buttons on a schema deploy card."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.breakglass.model import split_break_glass
from commands.schema.args import SCHEMA_ARGS
from commands.schema.service import SchemaService
from commands.schema.views import APPROVE_ACTION, CANCEL_ACTION


def register(app: App, registry: CommandRegistry, schema: SchemaService, after_ack: AfterAck) -> None:
    @registry.command("schema", grammar=SCHEMA_ARGS)
    def schema_command(ctx: CommandContext) -> Reply:
        """Deploy migrations additive-first (runbook §2). `plan` lints pending files (squawk + no drops, renames or
        type changes), applies every migration from zero in a scratch database and shows pending vs applied;
        `deploy` asks one `dba` and one `platform_lead` to approve, applies each file in its own transaction with
        the Supabase migration history, and records it in the release issue under "DB Changes"; while other work
        runs on the database the deploy waits its turn (`/zdm queue`). `--break-glass`
        passes a refusing checklist and a broken rollback path once a `platform_lead` (not you) confirms it."""
        rest, reason = split_break_glass(ctx.args)
        if reason is not None:  # `deploy <env> --break-glass "<reason>"`: a second person confirms on a card
            text, card, then = ctx.services.breakglass.request(
                action="schema.deploy", text=rest, reason=reason, actor=ctx.user
            )
            return Reply(text=text, card=card, then=then)
        text, card, then = ctx.services.schema.command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)

    after_ack.button(app, APPROVE_ACTION, schema.approve)
    after_ack.button(app, CANCEL_ACTION, schema.cancel)
