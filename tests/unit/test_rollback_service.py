"""The rollback service against in-memory ports: decisions and effects without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from commands.config import RunbookConfig
from commands.errors import (
    NotAuthorized,
    RollbackFileChanged,
    RollbackFileMissing,
    SecondPersonRequired,
    StalePrompt,
    TenantNotFound,
    TenantsStillOn,
)
from commands.rollback.model import RollbackStatus, Step, StepStatus
from commands.rollback.service import RollbackPorts, RollbackService
from tests.fakes import (
    FakeClock,
    MemoryAudit,
    MemoryFlags,
    MemoryLogFile,
    MemoryNotifier,
    MemoryRoles,
    MemoryRollbacks,
    MemoryTarget,
    ScriptedRunner,
    lost_connection,
)


@dataclass
class Harness:
    clock: FakeClock = field(default_factory=FakeClock)
    flags: MemoryFlags = field(default_factory=MemoryFlags)
    target: MemoryTarget = field(default_factory=MemoryTarget)
    runner: ScriptedRunner = field(default_factory=ScriptedRunner)
    notifier: MemoryNotifier = field(default_factory=MemoryNotifier)
    roles: MemoryRoles = field(default_factory=lambda: MemoryRoles({"oncall": {"U1", "U2"}, "dba": {"U1", "U2"}}))
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    log_file: MemoryLogFile = field(default_factory=MemoryLogFile)
    repo: MemoryRollbacks = field(default_factory=MemoryRollbacks)

    def service(self, root: Path) -> RollbackService:
        config = RunbookConfig.model_validate({"app": {"root": str(root)}})
        ports = RollbackPorts(
            clock=self.clock, flags=self.flags, target=self.target, runner=self.runner, notifier=self.notifier,
            roles=self.roles, audit=self.audit, log_file=self.log_file, repo=self.repo, outage=lost_connection,
        )  # fmt: skip
        return RollbackService(config=config, ports=ports, smoke_env={"DATABASE_URL": "x"})


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def svc(h: Harness, tmp_path: Path) -> RollbackService:
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20250301000000_profiles_rollback.sql").write_text("select 1;")
    return h.service(tmp_path)


def test_rollback_runs_every_step_and_posts_then_updates(h: Harness, svc: RollbackService) -> None:
    rollback = svc.start(text="tenant pilot_a checkout errors", actor="U1", correlation_id="ref1")
    done = svc.run(rollback.id)
    assert done is not None and done.status == RollbackStatus.SUCCEEDED
    assert h.flags.state == {("pilot_a", "tenant.enableNewProfile"): False}
    assert h.target.statements == ["select sp_restore_legacy_tenant_views();"]
    argv, env = h.runner.calls[0]
    assert argv[-2:] == ["--grep", "tenancy"] and env == {"DATABASE_URL": "x"}
    assert len(h.notifier.posts) == 1 and len(h.notifier.updates) == 4
    assert len(h.log_file.entries) == 1
    assert h.audit.actions()[0] == "rollback.requested"
    assert h.audit.actions()[-1] == "rollback.finished"
    assert svc.run(rollback.id) == done  # running a finished rollback again does nothing
    assert len(h.log_file.entries) == 1


def test_failing_flag_step_still_restores_and_logs(h: Harness, svc: RollbackService) -> None:
    h.flags.fail = True
    rollback = svc.start(text="tenant pilot_a", actor="U1")
    done = svc.run(rollback.id)
    assert done is not None and done.status == RollbackStatus.FAILED
    assert done.result(Step.FLAG_OFF).detail == "RuntimeError: flag service unavailable"
    assert done.result(Step.RESTORE_VIEWS).status == StepStatus.OK
    assert done.result(Step.ROLLBACK_LOG).status == StepStatus.OK


def test_refusals_change_nothing(h: Harness, svc: RollbackService) -> None:
    with pytest.raises(NotAuthorized):
        svc.start(text="tenant pilot_a", actor="U9")
    with pytest.raises(TenantNotFound):
        svc.start(text="tenant acme", actor="U1")
    with pytest.raises(RollbackFileMissing):
        svc.start(text="tenant pilot_a --schema 1999", actor="U1")
    assert h.repo.rows == {}
    assert h.audit.actions() == ["rollback.refused"]


def test_schema_decision_is_taken_once(h: Harness, svc: RollbackService) -> None:
    rollback = svc.start(text="tenant pilot_a --schema 20250301000000", actor="U1")
    waiting = svc.run(rollback.id)
    assert waiting is not None and waiting.status == RollbackStatus.AWAITING
    assert h.target.applied_files == []
    done = svc.decide_schema(rollback_id=rollback.id, actor="U2", apply=True)
    assert done is not None and done.status == RollbackStatus.SUCCEEDED
    assert h.target.applied_files == ["20250301000000_profiles_rollback.sql"]
    with pytest.raises(StalePrompt):
        svc.decide_schema(rollback_id=rollback.id, actor="U2", apply=True)
    assert h.target.applied_files == ["20250301000000_profiles_rollback.sql"]


def test_resume_continues_interrupted_rollbacks(h: Harness, svc: RollbackService) -> None:
    rollback = svc.start(text="tenant pilot_b", actor="U1")  # recorded, then the process "died" before run()
    assert svc.resume_unfinished() == 1
    done = h.repo.get(rollback.id)
    assert done is not None and done.status == RollbackStatus.SUCCEEDED


def test_a_rollback_held_elsewhere_is_not_run_twice(h: Harness, svc: RollbackService) -> None:
    rollback = svc.start(text="tenant pilot_b", actor="U1")
    h.repo.locked.add(rollback.id)
    assert svc.run(rollback.id) == rollback
    assert h.flags.state == {}


VERSION = "20250301000000"
FLAG = "tenant.enableNewProfile"


def test_schema_apply_needs_a_second_person_and_the_whole_flag_off(
    h: Harness, svc: RollbackService, tmp_path: Path
) -> None:
    h.flags.state = {("pilot_a", FLAG): True, ("pilot_b", FLAG): True, ("demo_icupa", FLAG): True}
    rollback = svc.start(text=f"tenant pilot_a --schema {VERSION}", actor="U1")
    assert rollback.schema_sha256 is not None and len(rollback.schema_sha256) == 64
    svc.run(rollback.id)
    card = h.notifier.updates[-1][1]
    assert "*2* other tenant(s) have `tenant.enableNewProfile` on now" in "\n".join(card.lines)
    assert card.buttons[0].label == "Turn the flag off for all 2 tenants, then apply"
    with pytest.raises(SecondPersonRequired):  # the requester is a dba too, but not a second person
        svc.decide_schema(rollback_id=rollback.id, actor="U1", apply=True, flag_off_all=True)
    with pytest.raises(TenantsStillOn, match=r"^2 other tenant"):  # plain apply would break pilot_b and demo_icupa
        svc.decide_schema(rollback_id=rollback.id, actor="U2", apply=True)
    assert h.target.applied_files == []
    done = svc.decide_schema(rollback_id=rollback.id, actor="U2", apply=True, flag_off_all=True)
    assert done is not None and done.status == RollbackStatus.SUCCEEDED
    assert {tenant for (tenant, _), on in h.flags.state.items() if on} == set()
    assert h.target.applied_files == [f"{VERSION}_profiles_rollback.sql"]
    assert done.result(Step.SCHEMA_ROLLBACK).detail.startswith("turned `tenant.enableNewProfile` off for 2 other")
    assert sorted(e.subject for e in h.audit.events if e.action == "rollback.flag_off_all") == ["demo_icupa", "pilot_b"]


def test_a_rollback_file_changed_after_the_request_voids_the_confirmation(
    h: Harness, svc: RollbackService, tmp_path: Path
) -> None:
    rollback = svc.start(text=f"tenant pilot_a --schema {VERSION}", actor="U1")
    svc.run(rollback.id)
    (tmp_path / "supabase" / "migrations" / f"{VERSION}_profiles_rollback.sql").write_text("drop table everything;")
    with pytest.raises(RollbackFileChanged, match="changed since rollback #1 was requested"):
        svc.decide_schema(rollback_id=rollback.id, actor="U2", apply=True)
    assert h.target.applied_files == []
    done = h.repo.get(rollback.id)
    assert done is not None and done.status == RollbackStatus.FAILED and done.finished_at is not None
    assert done.result(Step.SCHEMA_ROLLBACK).detail.startswith("void: ")


def test_a_worker_that_lost_its_lease_tells_the_person_the_truth() -> None:
    from bot.listeners.guard import failure_text
    from commands.errors import LockLost

    text = failure_text(LockLost(lock="7a64:1"), "abcd1234", after_ack=True)
    assert text.startswith("Another zdm worker took over this work (ref abcd1234) and carries it on")
    assert "try again" not in text and "internal error" not in text
