"""What the rollout's commands, buttons, break-glass and scheduler share, handed to each of them: the config and
ports, the record's lock, and the one interpreter that turns a transition into a saved record and its effects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from commands.authz import require_role
from commands.config import RunbookConfig
from commands.errors import NoSuchRollout, UsageError, UserError
from commands.rollout.effects import RolloutEffects, RolloutPorts
from commands.rollout.gates import GateReport
from commands.rollout.model import Rollout, next_wake
from commands.rollout.ports import RolloutRepository
from commands.rollout.step_transitions import flip_applied, flip_held
from commands.rollout.transitions import Transition, check_current

log = logging.getLogger(__name__)
APPROVERS = "release_approvers"
DECISION_WAIT_S = 20.0


class RolloutContext:
    def __init__(self, *, config: RunbookConfig, ports: RolloutPorts) -> None:
        self.config = config
        self.ports = ports
        self.fx = RolloutEffects(config, ports)

    @property
    def repo(self) -> RolloutRepository:
        return self.ports.repo

    # --- the interpreter ---------------------------------------------------------------------------------------

    def commit(self, transition: Transition, now: datetime) -> Rollout:
        """Carry out ``transition`` (the caller holds the rollout's lock): its write-ahead records, then the saved
        state, then its effects in order — only once the record says it happened. A message reference an effect
        gets (a posted card) is saved too. A refused transition saves nothing and raises its sentence."""
        if transition.refused is not None:
            self.refuse(transition, now)
        for record in transition.write_ahead:
            self.fx.run(record, transition.state, now)
        self.save(transition.state, now, durable=transition.durable)
        state = transition.state
        for effect in transition.effects:
            state = self.fx.run(effect, state, now)
        if state != transition.state:
            self.save(state, now)
        return state

    def refuse(self, transition: Transition, now: datetime) -> NoReturn:
        """A refused transition: nothing is saved; its effects (an audit line, a redrawn card) run and its sentence
        is raised."""
        for effect in transition.effects:
            self.fx.run(effect, transition.state, now)
        raise transition.refused or UserError("Nothing was changed.")

    def save(self, rollout: Rollout, now: datetime, *, durable: bool = True) -> None:
        settings = self.config.rollout
        wake = next_wake(rollout, now, remind_after=settings.remind_after, escalate_after=settings.escalate_after)
        self.repo.save(rollout, wake_at=wake, durable=durable)

    def update(
        self, rollout_id: int, decide: Callable[[Rollout, datetime], Transition], *, wait_s: float = 5.0
    ) -> Rollout:
        """Under the rollout's lock: read it, ``decide`` what changes at ``now``, and commit that."""
        with self.repo.exclusive(rollout_id, wait_s=wait_s) as mine:
            if not mine:
                raise UserError(f"Another zdm worker is busy with rollout #{rollout_id}; try again in a few seconds.")
            rollout = self.repo.get(rollout_id)
            if rollout is None:
                raise NoSuchRollout(rollout_id=rollout_id)
            now = self.ports.clock.now()
            return self.commit(decide(rollout, now), now)

    def finish_flip(self, rollout: Rollout, now: datetime, *, report: GateReport | None) -> Rollout:
        """Flip the claimed step's cohort and commit what it did. A flip resumed after a pause re-checks the KPI
        gates first and, if they fail, waits for a fresh approval instead."""
        if rollout.steps[rollout.current].interrupted:
            report = self.fx.gates(rollout, now, held=self.repo.held(rollout.flag))
            if report.blocks:
                return self.commit(flip_held(rollout, now, report=report), now)
        result = self.fx.enable_cohort(rollout, now)
        return self.commit(flip_applied(rollout, now, result=result, report=report), now)

    # --- finding a rollout, and who may touch it -------------------------------------------------------------

    def find(self, rollout_id: int | None) -> Rollout:
        if rollout_id is not None:
            found = self.repo.get(rollout_id)
            if found is None:
                raise NoSuchRollout(rollout_id=rollout_id)
            return found
        active = self.repo.active()
        if len(active) > 1:
            ids = ", ".join(f"#{r.id}" for r in active)
            raise UsageError(
                f"Several rollouts are active ({ids}); name one, e.g. `/zdm rollout status #{active[0].id}`."
            )
        if active:
            return active[0]
        recent = self.repo.recent(limit=1)
        if not recent:
            raise NoSuchRollout(rollout_id=None)
        return recent[0]

    def check_current(self, rollout: Rollout | None, index: int, digest: str) -> None:
        check_current(rollout, index, digest)

    def require(self, actor: str, roles: str | tuple[str, ...], action: str, *, subject: str | None = None) -> None:
        p = self.ports
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=roles, action=action,
            audit_action="rollout." + action.split()[0], subject=subject or action,
        )  # fmt: skip
