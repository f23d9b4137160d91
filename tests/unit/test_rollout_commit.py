"""The one interpreter of rollout transitions (``RolloutContext.commit``) on in-memory ports: the record is saved
before any effect tells the world, a flip's rollback-log entry is written before the record that says it is done,
a posted card's reference is saved, and a refused transition saves nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from commands.cards import Card, MessageRef
from commands.config import RunbookConfig
from commands.errors import GateBlocked
from commands.rollout.core import RolloutContext
from commands.rollout.effects import RolloutPorts
from commands.rollout.exposure import GuardedFlip
from commands.rollout.gates import GateReport, GateState, KpiRow
from commands.rollout.model import RolloutStatus, StepState, StepStatus
from commands.rollout.step_transitions import flip_applied, step_opened
from commands.rollout.transitions import approval_blocked, denied
from tests.fakes import (
    FakeClock,
    MemoryAudit,
    MemoryExposure,
    MemoryFlags,
    MemoryLogFile,
    MemoryNotifier,
    MemoryRoles,
    MemoryRollouts,
    MemoryTarget,
    ScriptedKpis,
)
from tests.unit.test_rollout_transitions import ALICE, T0, prompted, rollout

FAILING = GateReport(GateState.FAIL, (KpiRow("error rate", "3.0%", "≤ 1.0%", GateState.FAIL),), tenants=1, window="1h")


def _step(rollouts: MemoryRollouts) -> str:
    """The status of rollout #7's step 2 as stored."""
    return str(rollouts.rows[7].steps[1].status)


@dataclass
class WatchedNotifier(MemoryNotifier):
    """Remembers what the state database held for rollout #7 whenever a card was posted or updated."""

    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)
    seen: list[str] = field(default_factory=list)

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        self.seen.append(f"post {self.rollouts.rows[7].status} {_step(self.rollouts)}")
        return super().post(channel, card, thread_ts=thread_ts)

    def update(self, ref: MessageRef, card: Card) -> None:
        self.seen.append(f"update {self.rollouts.rows[7].status}")
        super().update(ref, card)


@dataclass
class WatchedLog(MemoryLogFile):
    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)
    seen: list[str] = field(default_factory=list)

    def append(self, *, marker: str, text: str, subject: str | None = None) -> str:
        self.seen.append(f"append {_step(self.rollouts)}")
        return super().append(marker=marker, text=text, subject=subject)


@dataclass
class World:
    rollouts: MemoryRollouts
    notifier: WatchedNotifier
    log_file: WatchedLog
    audit: MemoryAudit
    ctx: RolloutContext


@pytest.fixture
def world(tmp_path: Path) -> World:
    rollouts = MemoryRollouts()
    notifier, log_file, audit = WatchedNotifier(rollouts=rollouts), WatchedLog(rollouts=rollouts), MemoryAudit()
    ports = RolloutPorts(
        clock=FakeClock(T0), flags=MemoryFlags(), target=MemoryTarget({"pilot_a", "pilot_b"}), kpis=ScriptedKpis(),
        notifier=notifier, roles=MemoryRoles(), audit=audit, log_file=log_file, repo=rollouts,
        exposure=MemoryExposure(rollouts),
    )  # fmt: skip
    config = RunbookConfig.model_validate({"app": {"root": str(tmp_path)}})
    return World(rollouts, notifier, log_file, audit, RolloutContext(config=config, ports=ports))


def test_every_effect_sees_the_saved_record(world: World) -> None:
    r = prompted(rollout(), 1, cohort=("pilot_a",))
    world.rollouts.rows[7] = r
    world.ctx.commit(denied(r, T0, index=1, digest=r.digest, actor=ALICE, reason="no"), T0)
    assert world.rollouts.rows[7].status == RolloutStatus.DENIED
    assert world.notifier.seen == ["update denied", "update denied", "post denied denied"]  # root, prompt, reply
    assert world.audit.actions() == ["rollout.denied"]


def test_a_flips_log_entry_is_written_before_the_record_that_says_it_is_done(world: World) -> None:
    state = StepState(status=StepStatus.FLIPPING, cohort=("pilot_a",), prompted_at=T0, flipped_by=ALICE)
    r = replace(rollout().with_step(1, state), current=1)
    world.rollouts.rows[7] = r
    world.ctx.commit(flip_applied(r, T0, result=GuardedFlip(changed=["pilot_a"]), report=None), T0)
    assert world.log_file.seen == ["append flipping"]
    assert world.rollouts.rows[7].steps[1].status == StepStatus.DONE and len(world.log_file.entries) == 1


def test_a_prompt_is_saved_before_its_card_is_posted_and_the_card_reference_after(world: World) -> None:
    r = replace(rollout(), current=1)
    world.rollouts.rows[7] = r
    opened = step_opened(r, T0, selected=["pilot_a", "pilot_b"], held=set(), enabled=set())
    saved = world.ctx.commit(opened, T0)
    assert "post running prompted" in world.notifier.seen
    assert saved.steps[1].prompt_ts is not None and world.rollouts.rows[7] == saved


def test_a_refused_transition_saves_nothing_and_raises_its_sentence(world: World) -> None:
    r = prompted(rollout(), 0, cohort=("demo_icupa",))
    world.rollouts.rows[7] = r
    with pytest.raises(GateBlocked, match="KPI gate not met"):
        world.ctx.commit(approval_blocked(r, actor=ALICE, report=FAILING), T0)
    assert world.rollouts.rows[7] is r
    assert [(e.action, e.outcome) for e in world.audit.events] == [("rollout.approve", "blocked")]
    assert world.notifier.seen == ["update running"]  # the card redrawn to say why
