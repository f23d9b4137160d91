"""Post-migration commands (runbook §7): ``/zdm cleanup plan``, ``/zdm notes``, ``/zdm archive``, ``/zdm log``."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.breakglass.model import split_break_glass
from commands.cleanup.args import CLEANUP_ARGS
from commands.cleanup.service import CleanupService
from commands.cleanup.views import APPROVE_ACTION
from commands.outbox.args import LOG_ARGS
from commands.records.args import ARCHIVE_ARGS, NOTES_ARGS


def register(app: App, registry: CommandRegistry, cleanup: CleanupService, after_ack: AfterAck) -> None:
    @registry.command("cleanup", grammar=CLEANUP_ARGS)
    def cleanup_command(ctx: CommandContext) -> Reply:
        """Decide whether the release's destructive cleanup (dropping legacy columns and views) may be scheduled
        (runbook §7): the rollout reached all tenants, then KPIs within thresholds for 7 consecutive days (shown day
        by day) with no rollback, and the cleanup migration has its `_rollback.sql` pair. Before that it says the
        earliest date; once allowed, one `dba` and one `platform_lead` (not the requester) approve. `--break-glass`
        asks for it before the stable days are over, once a `platform_lead` (not you) confirms."""
        rest, reason = split_break_glass(ctx.args)
        if reason is not None:  # `plan <release> --break-glass "<reason>"`: a second person confirms on a card
            text, card, then = ctx.services.breakglass.request(
                action="cleanup.plan", text=rest, reason=reason, actor=ctx.user
            )
            return Reply(text=text, card=card, then=then)
        text, card, then = ctx.services.cleanup.command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)

    @registry.command("notes", grammar=NOTES_ARGS)
    def notes_command(ctx: CommandContext) -> Reply:
        """Draft the release's deployment notes (runbook §7) from what zdm recorded — schema deploys applied,
        backfill runs, rollout cohorts and dates, rollbacks — as a marked block in `CHANGELOG.md` and the RFC;
        running it again replaces only that block."""
        text, card, then = ctx.services.records.notes_command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)

    @registry.command("archive", grammar=ARCHIVE_ARGS)
    def archive_command(ctx: CommandContext) -> Reply:
        """Archive the release for audit (runbook §7): coverage and Lighthouse reports and zdm's audit export go
        to `artifacts/<release>/` with a sha256 `manifest.json`; `verify` checks every file against it."""
        text, card, then = ctx.services.records.archive_command(text=ctx.args, actor=ctx.user)
        return Reply(text=text, card=card, then=then)

    @registry.command("log", grammar=LOG_ARGS)
    def log_command(ctx: CommandContext) -> Reply:
        """What zdm recorded for the repository — rollback-log entries, rollout flips — newest first, each with
        where it is now ("in PR #12", "appended to `docs/runbooks/rollback-log.md`", or "delivery pending" while
        GitHub is unreachable: nothing is lost, the outbox retries). With an entry id: that entry's full text."""
        return Reply(text=ctx.services.outbox.log_command(ctx.args))

    after_ack.button(app, APPROVE_ACTION, cleanup.approve)
