"""SchemaDeploys: ``MemorySchemaDeploys`` and ``PgSchemaDeploys`` keep the same rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.errors import UserError
from commands.schema.model import Deploy, DeployStatus
from commands.schema.ports import SchemaDeploys
from tests.fakes import FakeClock, MemorySchemaDeploys

NOW = FakeClock().now()


@pytest.fixture
def deploys(backend: str, request: pytest.FixtureRequest) -> SchemaDeploys:
    if backend == "memory":
        return MemorySchemaDeploys()
    return PgSchemaDeploys(request.getfixturevalue("state_pool"), locks=request.getfixturevalue("locks"))


def new_deploy(env: str = "preview") -> Deploy:
    return Deploy(0, env, "abc123", ("20261125090000_add_timezone.sql",), "U0DBA", NOW, notes=("requested",))


def test_create_assigns_an_id_and_get_returns_the_whole_record(deploys: SchemaDeploys) -> None:
    created = deploys.create(new_deploy())
    assert created.id > 0 and deploys.get(created.id) == created
    assert deploys.get(created.id + 100) is None


def test_one_active_deploy_per_environment(deploys: SchemaDeploys) -> None:
    first = deploys.create(new_deploy())
    with pytest.raises(
        UserError, match=f"`preview` already has a schema deploy awaiting approval or applying \\(#{first.id}\\)"
    ):
        deploys.create(new_deploy())
    other = deploys.create(new_deploy("prod"))
    assert deploys.active("preview") == first and deploys.active("prod") == other
    deploys.save(replace(first, status=DeployStatus.APPLYING))
    assert deploys.applying() == [replace(first, status=DeployStatus.APPLYING)]
    deploys.save(replace(first, status=DeployStatus.APPLIED, applied=("20261125090000",), finished_at=NOW))
    assert deploys.active("preview") is None and deploys.applying() == []
    assert deploys.create(new_deploy()).id > other.id


def test_save_replaces_the_record(deploys: SchemaDeploys) -> None:
    created = deploys.create(new_deploy())
    changed = replace(created, status=DeployStatus.VOID, error="cancelled", channel="C1", message_ts="1.2", notes=())
    deploys.save(changed)
    assert deploys.get(created.id) == changed


def test_recent_is_newest_first_per_environment_and_limited(deploys: SchemaDeploys) -> None:
    made = []
    for env in ("preview", "prod", "preview"):
        deploy = deploys.create(new_deploy(env))
        deploys.save(replace(deploy, status=DeployStatus.APPLIED))
        made.append(deploy.id)
    assert [d.id for d in deploys.recent(limit=5)] == made[::-1]
    assert [d.id for d in deploys.recent(limit=5, env="preview")] == [made[2], made[0]]
    assert [d.id for d in deploys.recent(limit=1, env="preview")] == [made[2]]
