"""RolloutRepository and ExposureRecord: ``MemoryRollouts`` / ``MemoryExposure`` and their Postgres adapters agree
on one active rollout per flag, wake-ups, held-out tenants, includes, stop requests and the exposure record."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from commands.errors import RolloutActive
from commands.rollback.model import Rollback, RollbackRequest, initial_steps
from commands.rollout.config import RUNBOOK_PLAN, GatesConfig, plan_digest
from commands.rollout.model import Rollout, RolloutStatus, new_steps
from tests.contract.conftest import FlagState
from tests.fakes import FakeClock

FLAG = "tenant.enableNewProfile"
NOW = FakeClock().now()
H = timedelta(hours=1)


def new_rollout(flag: str = FLAG) -> Rollout:
    gates = GatesConfig()
    return Rollout(
        id=0,
        flag=flag,
        plan_name="runbook",
        plan=RUNBOOK_PLAN,
        gates=gates,
        digest=plan_digest(RUNBOOK_PLAN, gates),
        started_by="U0A",
        started_at=NOW,
        steps=new_steps(len(RUNBOOK_PLAN)),
    )


def rollback_of(tenant: str, *, at: timedelta = timedelta(0), flag: str = FLAG) -> Rollback:
    steps = initial_steps(RollbackRequest(tenant, "why"))
    return Rollback(0, tenant, flag, "U1", "why", None, NOW + at, steps)


def test_create_round_trips_and_one_active_rollout_per_flag(flag_state: FlagState) -> None:
    repo = flag_state.rollouts
    created = repo.create(new_rollout())
    assert created.id > 0 and repo.get(created.id) == created
    with pytest.raises(RolloutActive, match=f"already has an active rollout \\(#{created.id}\\)"):
        repo.create(new_rollout())
    other = repo.create(new_rollout("other.flag"))
    assert [r.id for r in repo.active()] == [created.id, other.id]
    assert [r.id for r in repo.recent(limit=1)] == [other.id]
    repo.save(replace(created, status=RolloutStatus.DONE, finished_at=NOW), wake_at=None)
    assert [r.id for r in repo.active()] == [other.id]
    assert repo.create(new_rollout()).id > other.id


def test_a_new_rollout_is_due_at_once_then_when_it_asks_to_wake(flag_state: FlagState) -> None:
    repo = flag_state.rollouts
    created = repo.create(new_rollout())
    assert repo.due(NOW) == [created.id] and repo.next_wake() == NOW
    repo.save(replace(created, history=("step 1 prompted",)), wake_at=NOW + 2 * H, durable=False)
    assert repo.due(NOW + H) == [] and repo.next_wake() == NOW + 2 * H
    assert repo.due(NOW + 2 * H) == [created.id]
    stored = repo.get(created.id)
    assert stored is not None and stored.history == ("step 1 prompted",)
    repo.save(replace(created, status=RolloutStatus.PAUSED), wake_at=NOW)
    assert repo.due(NOW + 3 * H) == [] and repo.next_wake() is None  # only running rollouts wake


def test_a_rolled_back_tenant_is_held_out_until_included_after_its_rollback(flag_state: FlagState) -> None:
    rollouts, rollbacks = flag_state.rollouts, flag_state.rollbacks
    open_ = rollbacks.create(rollback_of("pilot_a"))
    assert rollouts.held(FLAG) == {"pilot_a": open_.id} and rollouts.held("other.flag") == {}
    assert rollouts.rollback_open(flag=FLAG, tenant="pilot_a")
    rollouts.include(flag=FLAG, tenant="pilot_a", actor="U2", at=NOW + H)
    assert rollouts.held(FLAG) == {"pilot_a": open_.id}  # still open: an include does not release it yet
    rollbacks.save(replace(open_, finished_at=NOW + H))
    assert not rollouts.rollback_open(flag=FLAG, tenant="pilot_a")
    assert rollouts.held(FLAG) == {}  # finished, and included after it was created
    again = rollbacks.create(rollback_of("pilot_a", at=2 * H))
    rollbacks.save(replace(again, finished_at=NOW + 3 * H))
    assert rollouts.held(FLAG) == {"pilot_a": again.id}  # the earlier include predates this rollback


def test_with_held_reads_the_rollouts_a_status_may_mean_and_their_held_out_tenants(flag_state: FlagState) -> None:
    rollouts, rollbacks = flag_state.rollouts, flag_state.rollbacks
    assert rollouts.with_held(None) == [] and rollouts.with_held(7) == []
    first = rollouts.create(new_rollout())
    rollouts.save(replace(first, status=RolloutStatus.DONE, finished_at=NOW), wake_at=None)
    assert [(r.id, held) for r, held in rollouts.with_held(None)] == [(first.id, {})]  # none active: the newest
    held = rollbacks.create(rollback_of("pilot_a"))
    other = rollouts.create(new_rollout("other.flag"))
    again = rollouts.create(new_rollout())
    found = [(r.id, h) for r, h in rollouts.with_held(None)]
    assert found == [(other.id, {}), (again.id, {"pilot_a": held.id})]  # the active ones (the newest among them)
    assert [(r, h) for r, h in rollouts.with_held(first.id)] == [(rollouts.get(first.id), {"pilot_a": held.id})]


def test_a_stop_request_is_read_back_and_withdrawn(flag_state: FlagState) -> None:
    repo = flag_state.rollouts
    created = repo.create(new_rollout())
    assert repo.stop_requested(created.id) is None
    repo.request_stop(created.id, "pause")
    assert repo.stop_requested(created.id) == "pause"
    repo.request_stop(created.id, None)
    assert repo.stop_requested(created.id) is None


def test_exclusive_admits_one_holder_at_a_time(flag_state: FlagState) -> None:
    repo = flag_state.rollouts
    created = repo.create(new_rollout())
    with repo.exclusive(created.id) as first, repo.exclusive(created.id) as second:
        assert first and not second
    with repo.exclusive(created.id) as again:
        assert again


def test_exposure_records_who_zdm_turned_on_and_when(flag_state: FlagState) -> None:
    exposure = flag_state.exposure
    assert exposure.enabled_among(flag=FLAG, tenants=["pilot_a"]) == set()
    assert exposure.timeline(FLAG).first_enabled_at is None
    exposure.record(flag=FLAG, tenants=["pilot_a", "pilot_b"], enabled=True, actor="U1", at=NOW)
    exposure.record(flag=FLAG, tenants=["pilot_c"], enabled=True, actor="U1", at=NOW + H)
    exposure.record(flag=FLAG, tenants=["pilot_b"], enabled=False, actor="U1", at=NOW + 2 * H)
    exposure.record(flag=FLAG, tenants=[], enabled=True, actor="U1", at=NOW + 5 * H)  # nothing to record
    assert exposure.enabled_among(flag=FLAG, tenants=["pilot_a", "pilot_b", "pilot_c", "ga_1"]) == {
        "pilot_a",
        "pilot_c",
    }
    assert exposure.enabled_among(flag="other.flag", tenants=["pilot_a"]) == set()
    timeline = exposure.timeline(FLAG)
    assert (timeline.first_enabled_at, timeline.last_enabled_at) == (NOW, NOW + H)


def test_the_guard_reads_held_out_tenants_and_records_inside_the_lock(flag_state: FlagState) -> None:
    rollback = flag_state.rollbacks.create(rollback_of("pilot_a"))
    with flag_state.exposure.guard(FLAG) as guard:
        assert guard.held() == {"pilot_a": rollback.id}
        guard.record(tenants=["pilot_b"], enabled=True, actor="U1", at=NOW)
    assert flag_state.exposure.enabled_among(flag=FLAG, tenants=["pilot_a", "pilot_b"]) == {"pilot_b"}
