"""RollbackRepository: ``MemoryRollbacks`` and ``PgRollbackRepository`` keep the same rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from commands.adapters.state_pg import PgRollbackRepository
from commands.errors import RollbackInProgress
from commands.rollback.model import Rollback, RollbackRequest, Step, StepResult, StepStatus, initial_steps
from commands.rollback.ports import RollbackRepository
from tests.fakes import FakeClock, MemoryRollbacks

NOW = FakeClock().now()


@pytest.fixture
def repo(backend: str, request: pytest.FixtureRequest) -> RollbackRepository:
    if backend == "memory":
        return MemoryRollbacks()
    return PgRollbackRepository(request.getfixturevalue("state_pool"), locks=request.getfixturevalue("locks"))


def new_rollback(tenant: str = "pilot_a", *, schema_version: str | None = None) -> Rollback:
    steps = initial_steps(RollbackRequest(tenant, "why"))
    return Rollback(0, tenant, "f", "U1", "why", schema_version, NOW, steps, correlation_id="r")


def test_create_assigns_an_id_and_get_returns_the_record(repo: RollbackRepository) -> None:
    created = repo.create(new_rollback())
    assert created.id > 0 and repo.get(created.id) == created
    assert repo.get(created.id + 100) is None


def test_one_unfinished_rollback_per_tenant(repo: RollbackRepository) -> None:
    first = repo.create(new_rollback())
    with pytest.raises(RollbackInProgress, match=f"already in progress \\(#{first.id}\\)"):
        repo.create(new_rollback())
    other = repo.create(new_rollback("pilot_b"))
    assert repo.unfinished() == [first.id, other.id]
    repo.save(replace(first, finished_at=NOW))
    assert repo.unfinished() == [other.id]
    assert repo.create(new_rollback()).id > first.id


def test_save_keeps_progress_but_not_the_request(repo: RollbackRepository) -> None:
    created = repo.create(new_rollback())
    step = StepResult(Step.FLAG_OFF, StepStatus.OK, "off", NOW, None)
    progressed = replace(created.with_step(step), channel="C1", message_ts="1.2", reason="rewritten")
    repo.save(progressed)
    stored = repo.get(created.id)
    assert stored is not None
    assert stored.result(Step.FLAG_OFF).status is StepStatus.OK
    assert (stored.channel, stored.message_ts, stored.reason) == ("C1", "1.2", "why")


def test_a_schema_decision_is_recorded_once_and_only_when_awaited(repo: RollbackRepository) -> None:
    plain = repo.create(new_rollback("pilot_a"))
    assert repo.record_decision(rollback_id=plain.id, decision="apply", actor="U2") is False  # no schema step
    schema = repo.create(new_rollback("pilot_b", schema_version="20261101000000"))
    assert repo.record_decision(rollback_id=schema.id, decision="skip", actor="U2", flag_off_all=True) is True
    assert repo.record_decision(rollback_id=schema.id, decision="apply", actor="U3") is False
    stored = repo.get(schema.id)
    assert stored is not None
    assert (stored.schema_decision, stored.decided_by, stored.schema_flag_off_all) == ("skip", "U2", True)


def test_exclusive_admits_one_holder_at_a_time(repo: RollbackRepository) -> None:
    created = repo.create(new_rollback())
    with repo.exclusive(created.id) as first, repo.exclusive(created.id) as second:
        assert first and not second
    with repo.exclusive(created.id) as again:
        assert again
