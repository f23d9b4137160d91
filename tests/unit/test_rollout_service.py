"""The rollout service on in-memory ports (``tests/fakes``): the cadence, approvals, gates and held-out tenants
without a database or Slack (``tests/bot/test_rollout_*`` walk the same paths end to end)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from commands.config import RunbookConfig
from commands.errors import GateBlocked, NotAuthorized, RolloutActive, SelfApproval, StalePrompt, UserError
from commands.rollback.model import Rollback, RollbackRequest, initial_steps
from commands.rollout.effects import RolloutPorts
from commands.rollout.model import Rollout, RolloutStatus, StepStatus
from commands.rollout.service import RolloutService
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

H = timedelta(hours=1)
FLAG = "tenant.enableNewProfile"
STARTER, APPROVER, APPROVER2 = "U0START", "U0APPROVE", "U0APPROVE2"
TENANTS = {"demo_icupa", "pilot_a", "pilot_b", "pilot_c", "ga_001", "ga_002"}
PLAN = [
    {"name": "internal", "at": "0h", "slugs": ["demo_icupa"]},
    {"name": "pilots", "at": "12h", "glob": "pilot_*"},
    {"name": "everyone", "at": "24h", "all": True},
]


@dataclass
class Harness:
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)
    flags: MemoryFlags = field(default_factory=MemoryFlags)
    target: MemoryTarget = field(default_factory=lambda: MemoryTarget(set(TENANTS)))
    kpis: ScriptedKpis = field(default_factory=ScriptedKpis)
    notifier: MemoryNotifier = field(default_factory=MemoryNotifier)
    roles: MemoryRoles = field(
        default_factory=lambda: MemoryRoles({"release_approvers": {STARTER, APPROVER, APPROVER2}})
    )
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    log_file: MemoryLogFile = field(default_factory=MemoryLogFile)
    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)

    def service(self) -> RolloutService:
        config = RunbookConfig.model_validate(
            {"app": {"root": str(self.root)}, "rollout": {"default_plan": "short", "plans": {"short": PLAN}}}
        )
        ports = RolloutPorts(
            clock=self.clock, flags=self.flags, target=self.target, kpis=self.kpis, notifier=self.notifier,
            roles=self.roles, audit=self.audit, log_file=self.log_file, repo=self.rollouts,
            exposure=MemoryExposure(self.rollouts),
        )  # fmt: skip
        return RolloutService(config=config, ports=ports)

    def enabled(self) -> set[str]:
        return self.flags.enabled_among(flag=FLAG, tenants=sorted(TENANTS))

    def prompt_value(self, step: int) -> str:
        """The Approve button's value on the newest prompt card of ``step`` (1-based)."""
        for _, card in reversed(self.notifier.posts):
            for button in card.buttons:
                if button.value.split(":")[1:2] == [str(step - 1)] and "approve" in button.action_id:
                    return button.value
        raise AssertionError(f"no prompt for step {step} was posted")


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def started(h: Harness, service: RolloutService) -> Rollout:
    rollout = service.start(flag=None, plan=None, actor=STARTER, correlation_id="c1")
    service.after_start(rollout.id)
    return rollout


def test_the_plan_is_walked_at_its_offsets_with_one_approval_per_step(h: Harness) -> None:
    service = h.service()
    rollout = started(h, service)
    assert service.approve(value=h.prompt_value(1), actor=APPROVER).startswith(f"Enabled `{FLAG}` for 1 tenants")
    assert h.enabled() == {"demo_icupa"}
    h.clock.advance(12 * H - timedelta(minutes=1))
    service.advance_due()
    with pytest.raises(AssertionError, match="no prompt for step 2"):
        h.prompt_value(2)
    h.clock.advance(timedelta(minutes=1))
    service.advance_due()
    before = len(h.kpis.asked)
    service.approve(value=h.prompt_value(2), actor=APPROVER2)
    assert h.enabled() == {"demo_icupa", "pilot_a", "pilot_b", "pilot_c"}
    assert h.kpis.asked[before] == ("demo_icupa",)  # the gates read the tenants already on, before the flip
    h.clock.advance(12 * H)
    service.advance_due()
    assert service.approve(value=h.prompt_value(3), actor=APPROVER).startswith("Approval recorded (1 of 2)")
    with pytest.raises(UserError, match="You already approved this step"):
        service.approve(value=h.prompt_value(3), actor=APPROVER)
    assert h.enabled() == {"demo_icupa", "pilot_a", "pilot_b", "pilot_c"}
    service.approve(value=h.prompt_value(3), actor=APPROVER2)
    assert h.enabled() == TENANTS
    done = h.rollouts.get(rollout.id)
    assert done is not None and done.status is RolloutStatus.DONE
    assert [s.status for s in done.steps] == [StepStatus.DONE] * 3
    flipped = [e.subject for e in h.audit.events if e.action == "rollout.flag_on"]
    assert sorted(flipped) == sorted(TENANTS)  # one audit row per tenant turned on
    assert len(h.log_file.entries) == 3  # one rollback-log entry per step


def test_only_release_approvers_start_and_the_starter_cannot_approve(h: Harness) -> None:
    service = h.service()
    with pytest.raises(NotAuthorized):
        service.start(flag=None, plan=None, actor="U0STRANGER", correlation_id=None)
    assert h.rollouts.rows == {}
    rollout = started(h, service)
    with pytest.raises(RolloutActive, match=f"#{rollout.id}"):
        service.start(flag=None, plan=None, actor=APPROVER, correlation_id=None)
    with pytest.raises(SelfApproval):
        service.approve(value=h.prompt_value(1), actor=STARTER)
    assert h.enabled() == set()
    assert ("rollout.approve", "refused") in [(e.action, e.outcome) for e in h.audit.events]


def test_failing_gates_block_the_approval_and_enable_nothing(h: Harness) -> None:
    service = h.service()
    started(h, service)
    service.approve(value=h.prompt_value(1), actor=APPROVER)
    h.clock.advance(12 * H)
    service.advance_due()
    h.kpis.errors = 100  # 10 % errors on the tenants already on, after step 2 was prompted
    with pytest.raises(GateBlocked, match="error rate"):
        service.approve(value=h.prompt_value(2), actor=APPROVER)
    assert h.enabled() == {"demo_icupa"}


def test_a_breach_while_waiting_pauses_the_rollout_and_says_why(h: Harness) -> None:
    service = h.service()
    rollout = started(h, service)
    service.approve(value=h.prompt_value(1), actor=APPROVER)
    h.kpis.errors = 100
    h.clock.advance(12 * H)
    service.advance_due()
    paused = h.rollouts.get(rollout.id)
    assert paused is not None and paused.status is RolloutStatus.PAUSED
    assert paused.status_reason is not None and "error rate" in paused.status_reason
    with pytest.raises(AssertionError, match="no prompt for step 2"):
        h.prompt_value(2)
    assert h.enabled() == {"demo_icupa"}


def test_a_rolled_back_tenant_is_left_out_of_later_steps(h: Harness) -> None:
    service = h.service()
    rollout = started(h, service)
    service.approve(value=h.prompt_value(1), actor=APPROVER)
    request = RollbackRequest("pilot_b", "broken")
    h.rollouts.rollbacks.create(
        Rollback(0, "pilot_b", FLAG, "U1", "broken", None, h.clock.now(), initial_steps(request))
    )
    h.clock.advance(12 * H)
    service.advance_due()
    service.approve(value=h.prompt_value(2), actor=APPROVER)
    assert h.enabled() == {"demo_icupa", "pilot_a", "pilot_c"}
    step = h.rollouts.get(rollout.id)
    assert step is not None and step.steps[1].held_out == ("pilot_b",)


def test_a_denied_step_stops_the_rollout_and_its_buttons_go_stale(h: Harness) -> None:
    service = h.service()
    rollout = started(h, service)
    value = h.prompt_value(1)
    assert service.deny(value=value, actor=APPROVER, reason="  not   today ").startswith("Denied;")
    denied = h.rollouts.get(rollout.id)
    assert denied is not None and denied.status is RolloutStatus.DENIED and denied.status_reason == "not today"
    with pytest.raises(StalePrompt, match="denied"):
        service.approve(value=value, actor=APPROVER2)
    assert h.enabled() == set()
