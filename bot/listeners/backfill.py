"""``/zdm backfill …``: chunked, resumable backfills with live progress in the release channel."""

from __future__ import annotations

from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.backfill.args import BACKFILL_ARGS
from commands.breakglass.model import split_break_glass


def register(registry: CommandRegistry) -> None:
    @registry.command("backfill", grammar=BACKFILL_ARGS)
    def backfill_command(ctx: CommandContext) -> Reply:
        """Backfill in keyset batches sized by time, each committed with its checkpoint (runbook §3). Progress is
        one card in the release channel; error rate over 0.5 %, runtime over 30 min or a busy database pause the
        run with its checkpoint, and `resume` continues. While other work runs on the database a start waits its
        turn (`/zdm queue`). A throttle keeps a canary commit's p95 within the latency
        budget (the card says why it slowed); `--max-speed` runs every worker flat out. Production runs only
        inside its low-traffic window and after the job has finished on staging (`--break-glass` passes that rule
        once a `platform_lead`, not you, confirms)."""
        rest, reason = split_break_glass(ctx.args)
        if reason is not None:  # `start <env> [job] --break-glass "<reason>"`: a second person confirms on a card
            text, card, then = ctx.services.breakglass.request(
                action="backfill.start", text=rest, reason=reason, actor=ctx.user
            )
            return Reply(text=text, card=card, then=then)
        text, card, then = ctx.services.backfills.command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)
