"""Rollout service: ``/zdm rollout …``, the Approve / Deny buttons and the scheduler's ``advance_due(now)``.

Postgres is the source of truth. Every change to a rollout is a pure transition (``transitions``) committed under
the rollout's cross-process lock and saved before anything is posted, so a restart, a missed tick or a second
replica never skips, repeats or double-posts a step: ``advance_due`` only does what ``due_work`` says is due for
the stored record. This class is the facade callers use; the work is done by components sharing one
``RolloutContext``: ``RolloutControls`` (the commands), ``RolloutApprovals`` (the buttons), ``RolloutBreakGlass``
and ``RolloutTicks`` (the scheduler).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from commands.breakglass.model import Skip
from commands.cards import Card
from commands.charts import Mark
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.rollout.approvals import RolloutApprovals
from commands.rollout.args import parse_rollout_args
from commands.rollout.breakglass import RolloutBreakGlass
from commands.rollout.controls import RolloutControls
from commands.rollout.core import APPROVERS, RolloutContext
from commands.rollout.effects import RolloutPorts
from commands.rollout.model import Rollout
from commands.rollout.ticks import RolloutTicks
from commands.rollout.views import list_line


class RolloutService:
    """``/zdm rollout …``, the Approve / Deny buttons, break-glass and the scheduler's ``advance_due``."""

    def __init__(self, *, config: RunbookConfig, ports: RolloutPorts) -> None:
        ctx = RolloutContext(config=config, ports=ports)
        self._ticks = RolloutTicks(ctx)
        self._controls = RolloutControls(ctx, self._ticks)
        self._approvals = RolloutApprovals(ctx)
        self._break_glass = RolloutBreakGlass(ctx, self._approvals)
        self._config, self._p, self._repo = config, ports, ctx.repo
        self._require, self._find = ctx.require, ctx.find

    # --- /zdm rollout ------------------------------------------------------------------------------------------

    def command(
        self, *, text: str, actor: str, correlation_id: str | None = None
    ) -> tuple[str, Card | None, Callable[[], object] | None]:
        """Run one ``/zdm rollout …`` subcommand; return the reply sentence, an optional card and optional work
        to run after Slack's ack."""
        request = parse_rollout_args(text)
        if request.action == "start":
            self._check_known(request.flag)
            flag = request.flag or self._config.flag.name
            gate = self._p.checklist.preflight(flag=flag) if self._p.checklist else None
            if gate is not None and gate.refuse:
                self._require(actor, APPROVERS, "start rollouts")
                raise UserError(f"No rollout was started: {gate.sentence()}.")
            rollout = self.start(flag=request.flag, plan=request.plan, actor=actor, correlation_id=correlation_id)
            where = self._config.channels.release
            text = f"Started rollout #{rollout.id} of `{rollout.flag}`; approval prompts follow in {where}."
            text += f" Warning: {gate.sentence()}." if gate else ""
            return text, None, lambda: self.after_start(rollout.id)
        if request.action == "list":
            rollouts = self._repo.recent(limit=10)
            lines = tuple(list_line(r) for r in rollouts) or ("No rollouts yet. `/zdm rollout start` begins one.",)
            return "\n".join(lines), Card(title="Recent rollouts", lines=lines), None
        if request.action == "include":
            assert request.slug
            return self.include(slug=request.slug, actor=actor)
        rollout = self._find(request.rollout_id)
        if request.action == "status":
            card = self.status_card(rollout)
            return card.title, card, None
        work = self._check_status_change(rollout, request.action, actor=actor, reason=request.reason)
        verb = {"pause": "Pausing", "resume": "Resuming", "abort": "Aborting"}[request.action]
        return f"{verb} rollout #{rollout.id}…", None, work

    def start(self, *, flag: str | None, plan: str | None, actor: str, correlation_id: str | None) -> Rollout:
        return self._controls.start(flag=flag, plan=plan, actor=actor, correlation_id=correlation_id)

    def known_flags(self) -> list[str]:
        """The configured flag and every flag a ``[releases.*]`` entry names: the only flags a rollout may flip."""
        return self._controls.known_flags()

    def _check_known(self, flag: str | None) -> None:
        self._controls.check_known(flag)

    def after_start(self, rollout_id: int) -> None:
        """After the ack: open the rollout's thread in the release channel and do whatever is due already."""
        self.relink(rollout_id)
        self.advance_due()

    def status_card(self, rollout: Rollout) -> Card:
        return self._controls.status_card(rollout)

    def include(self, *, slug: str, actor: str) -> tuple[str, None, Callable[[], object]]:
        return self._controls.include(slug=slug, actor=actor)

    def _check_status_change(self, rollout: Rollout, action: str, *, actor: str, reason: str) -> Callable[[], str]:
        return self._controls.check_status_change(rollout, action, actor=actor, reason=reason)

    def pause_for_alert(self, *, flag: str, reason: str) -> list[int]:
        """Pause the running rollouts of ``flag`` because an alert fired; return their ids."""
        return self._controls.pause_for_alert(flag=flag, reason=reason)

    def flips(self, *, flag: str, since: datetime) -> list[Mark]:
        """The flips of ``flag``'s recent rollouts at or after ``since`` (marked on the alert card's chart)."""
        return self._controls.flips(flag=flag, since=since)

    # --- the buttons and break-glass ---------------------------------------------------------------------------

    def check_decidable(self, *, value: str, actor: str) -> Rollout:
        """Validate a click before anything happens (used before opening the Deny reason dialog)."""
        return self._approvals.check_decidable(value=value, actor=actor)

    def approve(self, *, value: str, actor: str, break_glass: str | None = None) -> str:
        return self._approvals.approve(value=value, actor=actor, break_glass=break_glass)

    def deny(self, *, value: str, actor: str, reason: str) -> str:
        return self._approvals.deny(value=value, actor=actor, reason=reason)

    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        return self._break_glass.break_glass_skip(text=text, actor=actor)

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        return self._break_glass.break_glass_run(target=target, actor=actor, confirmed_by=confirmed_by, reason=reason)

    # --- the scheduler -----------------------------------------------------------------------------------------

    def advance_due(self, now: datetime | None = None) -> datetime | None:
        """Do whatever is due for every running rollout; return when to wake up next (see ``RolloutTicks``)."""
        return self._ticks.advance_due(now)

    def relink_prompts(self) -> int:
        """After a restart: refresh each active rollout's cards in place (and re-post any that never got out)."""
        return self._ticks.relink_prompts()

    def relink(self, rollout_id: int) -> bool:
        return self._ticks.relink(rollout_id)
