"""Contract tests: the same behavioural tests run against each in-memory fake (``tests/fakes``) and its Postgres
adapter, so a service tested on the fake behaves the same on the real thing.

Each port's fixture is parametrised ``memory`` / ``postgres``; the Postgres side gets a fresh state database cloned
from one migrated template (a clone is cheaper than migrating again)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from bot.embedded import EmbeddedPostgres, ensure_database
from commands.adapters.exposure_pg import PgExposure
from commands.adapters.locks import PgLocks
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.adapters.state_pg import PgRollbackRepository
from commands.adapters.store_pg import migrate_state
from commands.rollback.ports import RollbackRepository
from commands.rollout.exposure import ExposureRecord
from commands.rollout.ports import RolloutRepository
from tests.fakes import MemoryExposure, MemoryRollouts

BACKENDS = ["memory", "postgres"]
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def state_template(pg: EmbeddedPostgres) -> str:
    ensure_database(pg.url("postgres"), "contract_state_template")
    migrate_state(pg.url("contract_state_template"))
    return "contract_state_template"


@pytest.fixture
def state_url(pg: EmbeddedPostgres, state_template: str) -> str:
    name = f"contract_state_{next(_numbers)}"
    ensure_database(pg.url("postgres"), name, template=state_template)
    return pg.url(name)


@pytest.fixture
def state_pool(state_url: str) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(state_url, min_size=1, max_size=4) as pool:
        yield pool


@pytest.fixture
def locks(state_url: str) -> Iterator[PgLocks]:
    held = PgLocks(state_url, max_size=2)
    yield held
    held.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass(frozen=True)
class FlagState:
    """The stores that share who may have a flag on: rollouts (and their includes), rollbacks, the exposure record."""

    rollouts: RolloutRepository
    rollbacks: RollbackRepository
    exposure: ExposureRecord


@pytest.fixture
def flag_state(backend: str, request: pytest.FixtureRequest) -> FlagState:
    if backend == "memory":
        rollouts = MemoryRollouts()
        return FlagState(rollouts, rollouts.rollbacks, MemoryExposure(rollouts))
    pool, locks = request.getfixturevalue("state_pool"), request.getfixturevalue("locks")
    return FlagState(PgRolloutRepository(pool, locks=locks), PgRollbackRepository(pool, locks=locks), PgExposure(pool))
