"""On-call rollback: ``/zdm rollback tenant <slug>`` and the schema-rollback confirm buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.executor import ONCALL
from bot.listeners.guard import AfterAck
from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from bot.logs import current_ref
from commands.errors import StalePrompt
from commands.rollback.args import ROLLBACK_ARGS, parse_rollback_cancel
from commands.rollback.degraded import StateDatabaseDown
from commands.rollback.model import Rollback
from commands.rollback.service import RollbackService
from commands.rollback.views import ALL_OFF_ACTION, CANCEL_ACTION, CONFIRM_ACTION
from commands.text import whole_number

ALREADY_DEGRADED = "This rollback request already ran in degraded mode (or is running); its outcome is sent to you."


def register(app: App, registry: CommandRegistry, rollbacks: RollbackService, after_ack: AfterAck) -> None:
    @registry.command("rollback", grammar=ROLLBACK_ARGS)
    def rollback_command(ctx: CommandContext) -> Reply:
        """Mitigate one tenant now (on-call only): turn its flag off, restore the legacy views, re-run the smoke
        tests, optionally apply the paired `<VERSION>_*_rollback.sql` — global, so a `dba` or `platform_lead` other
        than you confirms it, pinned to the file as requested, after turning the flag off for every tenant still on
        it — and append an entry to the rollback log. Progress is posted in the release channel and updated in place.
        `cancel <id>` skips the schema step a rollback is waiting for (as its Skip button does), so it finishes.
        While zdm's state database is down, a plain `tenant <slug>` rollback still runs in degraded mode (flag off,
        legacy views, smoke tests; journaled locally and recorded once the database is back) for `oncall` members
        listed by user id; `--schema` waits for the database."""
        if ctx.args.split()[:1] == ["cancel"]:
            rollback_id = parse_rollback_cancel(ctx.args)
            return Reply(
                text=f"Skipping the schema step of rollback #{rollback_id}…",
                then=lambda: _skipped(rollbacks.decide_schema(rollback_id=rollback_id, actor=ctx.user, apply=False)),
            )
        degraded = ctx.services.degraded_rollbacks
        if degraded is not None and degraded.seen(ctx.request_id):  # a Slack retry arriving after the outage
            return Reply(text=ALREADY_DEGRADED)
        try:
            rollback = ctx.services.rollbacks.start(
                text=ctx.args, actor=ctx.user, correlation_id=ctx.ref, state_down=ctx.state_down
            )
        except StateDatabaseDown as down:
            return _degraded(ctx, down)
        channel = ctx.services.config.channels.release
        return Reply(
            text=f"Rolling back `{rollback.tenant}` (rollback #{rollback.id}); progress in {channel}.",
            then=lambda: ctx.services.rollbacks.run_requested(rollback.id),
        )

    def decide(apply: bool, *, flag_off_all: bool = False) -> Any:
        def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()

            def work() -> object:
                value, user = after_ack.screen.button(body, ref=current_ref())
                rollback_id = whole_number(value)
                if rollback_id is None:
                    raise StalePrompt(what="the button does not name a rollback")
                return rollbacks.decide_schema(
                    rollback_id=rollback_id, actor=user, apply=apply, flag_off_all=flag_off_all
                )

            after_ack(work, respond=respond, lane=ONCALL)

        return on_click

    app.action(CONFIRM_ACTION)(decide(True))
    app.action(CANCEL_ACTION)(decide(False))
    app.action(ALL_OFF_ACTION)(decide(True, flag_off_all=True))


def _skipped(rollback: Rollback | None) -> str:
    if rollback is None:
        return "That rollback no longer exists."
    return f"Rollback #{rollback.id} of `{rollback.tenant}` skipped its schema step and is {rollback.status.value}."


def _degraded(ctx: CommandContext, down: StateDatabaseDown) -> Reply:
    """The state database is down: the mitigation runs without it (see ``commands.rollback.degraded``)."""
    degraded = ctx.services.degraded_rollbacks
    if degraded is None:
        raise down
    admitted = degraded.admit(down, request_id=ctx.request_id)
    tenant = admitted.rollback.tenant
    if not admitted.fresh:
        return Reply(text=ALREADY_DEGRADED)
    return Reply(
        text=(
            f"The state database is down: rolling back `{tenant}` in degraded mode (flag off, legacy views, smoke "
            "tests); the outcome follows here."
        ),
        then=lambda: degraded.run(admitted.rollback),
    )
