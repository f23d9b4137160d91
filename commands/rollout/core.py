"""What the rollout's commands, buttons and scheduler share: the record's lock and save, role checks, and the
checks that make a click stale."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from commands.authz import require_role
from commands.config import RunbookConfig
from commands.errors import NoSuchRollout, StalePrompt, UsageError, UserError
from commands.rollout.effects import RolloutEffects, RolloutPorts
from commands.rollout.model import Rollout, RolloutStatus, StepStatus, next_wake
from commands.rollout.ports import RolloutRepository

log = logging.getLogger(__name__)
APPROVERS = "release_approvers"
DECISION_WAIT_S = 20.0


class RolloutCore:
    def __init__(self, *, config: RunbookConfig, ports: RolloutPorts) -> None:
        self._config = config
        self._p = ports
        self._fx = RolloutEffects(config, ports)

    @property
    def _repo(self) -> RolloutRepository:
        return self._p.repo

    # --- shared helpers ----------------------------------------------------------------------------------------

    def _locked_update(self, rollout_id: int, change: Callable[[Rollout], Rollout], *, wait_s: float = 5.0) -> Rollout:
        with self._repo.exclusive(rollout_id, wait_s=wait_s) as mine:
            if not mine:
                raise UserError(f"Another zdm worker is busy with rollout #{rollout_id}; try again in a few seconds.")
            rollout = self._repo.get(rollout_id)
            if rollout is None:
                raise NoSuchRollout(rollout_id=rollout_id)
            now = self._p.clock.now()
            updated: Rollout = change(rollout)
            self._save(updated, now)
            self._fx.refresh_root(updated, now)
            return updated

    def _find(self, rollout_id: int | None) -> Rollout:
        if rollout_id is not None:
            found = self._repo.get(rollout_id)
            return choose(rollout_id, [found] if found else [])
        return choose(None, self._repo.active() or self._repo.recent(limit=1))

    def _check_current(self, rollout: Rollout | None, index: int, digest: str) -> None:
        if rollout is None:
            raise StalePrompt(what="that rollout no longer exists")
        if digest != rollout.digest:
            raise StalePrompt(what="the rollout's plan has changed since this card was posted")
        if rollout.status in (RolloutStatus.ABORTED, RolloutStatus.DENIED, RolloutStatus.DONE):
            raise StalePrompt(what=f"rollout #{rollout.id} is {rollout.status.value}")
        if index != rollout.current or rollout.step is None or rollout.step.status != StepStatus.PROMPTED:
            raise StalePrompt(what=f"step {index + 1} of rollout #{rollout.id} is no longer waiting for approval")
        if rollout.status == RolloutStatus.PAUSED:
            raise UserError(f"Rollout #{rollout.id} is paused; `/zdm rollout resume` it first, then decide.")

    def _require(self, actor: str, roles: str | tuple[str, ...], action: str, *, subject: str | None = None) -> None:
        p = self._p
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=roles, action=action,
            audit_action="rollout." + action.split()[0], subject=subject or action,
        )  # fmt: skip

    def _save(self, rollout: Rollout, now: datetime, *, announce: Sequence[str] = (), durable: bool = True) -> None:
        settings = self._config.rollout
        wake = next_wake(rollout, now, remind_after=settings.remind_after, escalate_after=settings.escalate_after)
        self._repo.save(rollout, wake_at=wake, durable=durable)
        for text in announce:  # only once the record says it happened
            self._fx.say(rollout, text)


def choose(rollout_id: int | None, found: Sequence[Rollout]) -> Rollout:
    """The rollout a command means: #``rollout_id`` when given, else the one active rollout, else the newest (of
    ``found``); ``NoSuchRollout`` or a ``UsageError`` naming the active ones when that is not one rollout."""
    if rollout_id is not None:
        named = [r for r in found if r.id == rollout_id]
        if not named:
            raise NoSuchRollout(rollout_id=rollout_id)
        return named[0]
    active = [r for r in found if r.status.active]
    if len(active) > 1:
        ids = ", ".join(f"#{r.id}" for r in active)
        raise UsageError(f"Several rollouts are active ({ids}); name one, e.g. `/zdm rollout status #{active[0].id}`.")
    if active:
        return active[0]
    if not found:
        raise NoSuchRollout(rollout_id=None)
    return max(found, key=lambda r: r.id)
