"""FlagStore: ``MemoryFlags`` and the postgres backend (``PgFlagStore`` on the demo app's flag table) agree."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from bot.embedded import EmbeddedPostgres, ensure_database
from commands.adapters.target_pg import PgFlagStore
from commands.ports import FlagStore
from tests.fakes import MemoryFlags

FLAG = "tenant.contractFlag"
_numbers = itertools.count(1)


@pytest.fixture
def flags(backend: str, request: pytest.FixtureRequest) -> Iterator[FlagStore]:
    if backend == "memory":
        yield MemoryFlags()
        return
    pg: EmbeddedPostgres = request.getfixturevalue("pg")
    name = f"contract_target_{next(_numbers)}"
    ensure_database(pg.url("postgres"), name, template=request.getfixturevalue("demo_template"))
    with ConnectionPool(pg.url(name), min_size=1, max_size=2) as pool:
        yield PgFlagStore(pool, table="public.feature_flags")


def test_set_enabled_says_what_changed(flags: FlagStore) -> None:
    assert flags.set_enabled(tenant="pilot_a", flag=FLAG, enabled=False, actor="U1") == (
        f"`{FLAG}` was already off for `pilot_a` (never enabled)"
    )
    assert (
        flags.set_enabled(tenant="pilot_a", flag=FLAG, enabled=True, actor="U1") == f"`{FLAG}` turned on for `pilot_a`"
    )
    assert flags.set_enabled(tenant="pilot_a", flag=FLAG, enabled=True, actor="U1") == (
        f"`{FLAG}` was already on for `pilot_a`"
    )
    assert flags.enabled_among(flag=FLAG, tenants=["pilot_a", "pilot_b"]) == {"pilot_a"}
    assert flags.set_enabled(tenant="pilot_a", flag=FLAG, enabled=False, actor="U1") == (
        f"`{FLAG}` turned off for `pilot_a`"
    )
    assert flags.enabled_among(flag=FLAG, tenants=["pilot_a", "pilot_b"]) == set()


def test_enable_many_turns_on_the_rest_and_names_who_was_already_on(flags: FlagStore) -> None:
    flags.set_enabled(tenant="pilot_b", flag=FLAG, enabled=True, actor="U1")
    flags.set_enabled(tenant="pilot_c", flag=FLAG, enabled=False, actor="U1")
    outcome = flags.enable_many(flag=FLAG, tenants=["pilot_a", "pilot_b", "pilot_c"], actor="U2")
    assert (outcome.changed, outcome.unchanged, outcome.failed) == (("pilot_a", "pilot_c"), ("pilot_b",), ())
    assert flags.enabled_among(flag=FLAG, tenants=["pilot_a", "pilot_b", "pilot_c"]) == {
        "pilot_a",
        "pilot_b",
        "pilot_c",
    }
    assert flags.enabled_among(flag="other.flag", tenants=["pilot_a"]) == set()
    again = flags.enable_many(flag=FLAG, tenants=["pilot_a"], actor="U2")
    assert (again.changed, again.unchanged) == ((), ("pilot_a",))
    for tenant in ("pilot_a", "pilot_c"):  # every row there and off: the usual case of a flip
        flags.set_enabled(tenant=tenant, flag=FLAG, enabled=False, actor="U1")
    usual = flags.enable_many(flag=FLAG, tenants=["pilot_a", "pilot_c"], actor="U2")
    assert (usual.changed, usual.unchanged) == (("pilot_a", "pilot_c"), ())
