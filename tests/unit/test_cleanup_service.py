"""The cleanup stage on in-memory ports: the 7-day gate read from the other stages' records, the cleanup request
and its two approvals (``tests/bot/test_cleanup.py`` runs the same rules through Slack and Postgres)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from commands.cleanup.model import CleanupStatus
from commands.cleanup.service import CleanupPorts, CleanupService
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.rollback.model import Rollback, RollbackRequest, initial_steps
from tests.fakes import (
    FakeClock,
    MemoryAudit,
    MemoryCleanups,
    MemoryExposure,
    MemoryFlags,
    MemoryNotifier,
    MemoryReleaseFacts,
    MemoryRoles,
    MemoryRollouts,
    MemoryTarget,
    ScriptedKpis,
)

DAY = timedelta(days=1)
FLAG = "tenant.enableNewProfile"
TENANTS = ("demo_icupa", "pilot_a", "pilot_b")
DBA, LEAD, REQUESTER = "U0DBA", "U0LEAD", "U0REQ"
CLEANUP = "supabase/cleanup/20250401000000_drop_legacy_tenant_columns.sql"


@dataclass
class Harness:
    root: Path
    demo: Path  # the suite's copy of the tracked demo app files
    clock: FakeClock = field(default_factory=FakeClock)
    kpis: ScriptedKpis = field(default_factory=ScriptedKpis)
    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)
    cleanups: MemoryCleanups = field(default_factory=MemoryCleanups)
    notifier: MemoryNotifier = field(default_factory=MemoryNotifier)
    roles: MemoryRoles = field(default_factory=lambda: MemoryRoles({"dba": {DBA, REQUESTER}, "platform_lead": {LEAD}}))
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    flags: MemoryFlags = field(default_factory=MemoryFlags)
    exposure: MemoryExposure = field(init=False)

    def __post_init__(self) -> None:
        self.exposure = MemoryExposure(self.rollouts)
        shutil.copytree(self.demo / "supabase" / "cleanup", self.root / "supabase" / "cleanup")

    def service(self) -> CleanupService:
        config = RunbookConfig.model_validate(
            {
                "app": {"root": str(self.root)},
                "releases": {"profiles": {"migrations": ["20250301000000_*"], "cleanup": CLEANUP}},
            }
        )
        ports = CleanupPorts(
            clock=self.clock, kpis=self.kpis, facts=MemoryReleaseFacts(self.rollouts, self.audit),
            cleanups=self.cleanups, notifier=self.notifier, roles=self.roles, audit=self.audit,
            target=MemoryTarget(set(TENANTS)), flags=self.flags, exposure=self.exposure, held=self.rollouts,
        )  # fmt: skip
        return CleanupService(config=config, ports=ports)

    def everyone_on(self) -> None:
        """zdm turned the flag on for every tenant now (the day count starts here)."""
        self.flags.enable_many(flag=FLAG, tenants=TENANTS, actor="U0A")
        self.exposure.record(flag=FLAG, tenants=TENANTS, enabled=True, actor="U0A", at=self.clock.now())


@pytest.fixture
def h(tmp_path: Path, demo_app: Path) -> Harness:
    return Harness(tmp_path, demo_app)


def test_day_six_refuses_with_the_date_and_a_clean_day_seven_needs_a_dba_and_a_lead(h: Harness) -> None:
    service = h.service()
    h.everyone_on()
    h.clock.advance(6 * DAY)
    assert "the earliest cleanup date is 2026-12-02 09:00 UTC" in service.plan("profiles", actor=REQUESTER)
    assert h.cleanups.rows == {}
    h.clock.advance(DAY)
    answer = service.plan("profiles", actor=REQUESTER)
    assert answer == "Cleanup of `profiles` is allowed; cleanup #1 awaits one `dba` and one `platform_lead`."
    value = next(b.value for b in h.notifier.posts[-1][1].buttons if b.value.startswith("1:"))
    with pytest.raises(UserError):
        service.approve(value=value, actor=REQUESTER)  # the requester does not approve their own cleanup
    assert service.approve(value=value, actor=DBA).startswith("Approved as `dba`")
    assert service.approve(value=value, actor=LEAD).startswith("Cleanup #1 of `profiles` is approved")
    approved = h.cleanups.get(1)
    assert approved is not None and approved.status is CleanupStatus.APPROVED


def test_a_held_out_tenant_or_a_rollback_since_refuses(h: Harness) -> None:
    service = h.service()
    h.everyone_on()
    request = RollbackRequest("pilot_a", "broken")
    rollback = h.rollouts.rollbacks.create(
        Rollback(0, "pilot_a", FLAG, "U1", "broken", None, h.clock.now() + 2 * DAY, initial_steps(request))
    )
    h.clock.advance(8 * DAY)
    held = service.gate("profiles", h.clock.now())
    assert not held.allowed and f"`pilot_a` (held out after rollback #{rollback.id})" in held.reasons[0]
    h.rollouts.rollbacks.save(replace(rollback, finished_at=h.clock.now()))
    h.rollouts.include(flag=FLAG, tenant="pilot_a", actor="U1", at=h.clock.now())
    rolled = service.gate("profiles", h.clock.now())
    assert not rolled.allowed and "rollback of pilot_a" in rolled.reasons[0]


def test_a_changed_cleanup_file_voids_the_request(h: Harness) -> None:
    service = h.service()
    h.everyone_on()
    h.clock.advance(7 * DAY)
    service.plan("profiles", actor=REQUESTER)
    (h.root / CLEANUP).write_text("drop table everything;\n", encoding="utf-8")
    value = next(b.value for b in h.notifier.posts[-1][1].buttons if b.value.startswith("1:"))
    with pytest.raises(UserError, match="Cleanup #1 is void: the cleanup migration or its pair changed"):
        service.approve(value=value, actor=DBA)
    void = h.cleanups.get(1)
    assert void is not None and void.status is CleanupStatus.VOID
