"""``/zdm queue [env]`` and ``/zdm queue cancel Q<n>``: the per-database work queue."""

from __future__ import annotations

from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.queue.args import QUEUE_ARGS


def register(registry: CommandRegistry) -> None:
    @registry.command("queue", grammar=QUEUE_ARGS)
    def queue_command(ctx: CommandContext) -> Reply:
        """Schema deploys, backfills and schema rollbacks against one database run one at a time: a second one
        waits in line ("you are 2nd; starts when backfill #7 finishes") and starts by itself when the database is
        free; schema rollbacks jump ahead of queued work. Lists what is running and waiting, with position,
        requester and wait time; `cancel` takes a waiting item out (its requester or a `platform_lead`)."""
        return Reply(text=ctx.services.queue.command(text=ctx.args, actor=ctx.user))
