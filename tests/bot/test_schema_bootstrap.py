"""The clean bootstrap of `/zdm schema plan` shaped like Supabase: the platform prelude (auth.uid() and friends),
the rollback round trip of each pending pair, and a disposable shadow database instead of a scratch one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.bootstrap import Container, build_container
from bot.embedded import EmbeddedPostgres, ensure_database
from bot.local.emulator import SlackEmulator
from commands.schema.history import split_statements
from commands.schema.prelude import PreludeMissing, bundled_prelude
from tests.bot.conftest import card_text
from tests.conftest import ONCALL, Databases, make_settings, write_config
from tests.fakes import FakeClock

_fresh = iter(range(1, 1000))


def empty_database(pg: EmbeddedPostgres, prefix: str) -> str:
    name = f"{prefix}_{next(_fresh)}"
    ensure_database(pg.url("postgres"), name)
    return pg.url(name)


@pytest.fixture
def build(
    tmp_path: Path, dbs: Databases, slack: SlackEmulator, app_root: Path, clock: FakeClock
) -> Iterator[Callable[..., Container]]:
    """Builds the container from a zdm.toml without approvals or seed, plus ``schema`` lines and ``extra`` text."""
    built: list[Container] = []

    def make(*, schema: str = "", extra: str = "") -> Container:
        text = f"[schema]\nbootstrap_seed = false\n{schema}\n{extra}"
        config = write_config(tmp_path / "zdm.toml", app_root, extra=text)
        built.append(build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock))
        return built[-1]

    yield make
    for container in built:
        container.close()


def plan_card(slack: SlackEmulator) -> str:
    return card_text([m for m in slack.in_channel("#release") if card_text(m).startswith("*Schema plan for")][-1])


FRESH = '[schema.environments.fresh]\ndatabase_url_env = "FRESH_DATABASE_URL"\napprovals = false\n'


def test_a_fresh_supabase_target_gets_the_whole_demo_with_its_rls_policy_on_auth_uid(
    pg: EmbeddedPostgres, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch, build: Callable[..., Container]
) -> None:
    fresh = empty_database(pg, "fresh")
    with psycopg.connect(fresh, autocommit=True) as conn:  # what the Supabase platform has before migrations
        for statement in split_statements(bundled_prelude()):
            conn.execute(statement.encode())
    monkeypatch.setenv("FRESH_DATABASE_URL", fresh)
    schema = build(extra=FRESH).services.schema

    assert schema.post_plan("fresh").startswith("The plan for `fresh` is ready: 6 file(s)")
    text = plan_card(slack)
    assert "⛔" not in text  # the demo passes its own lint: nothing blocks
    assert (
        "*Clean bootstrap:* ✅ all 6 migrations apply from zero in a scratch database; 1 rollback pair(s) round-trip"
    ) in text
    said = schema.request_deploy("fresh", actor=ONCALL)
    assert said.startswith("Schema deploy #1 to `fresh` applied: `20250101000000`") and "`20250320000000`" in said

    with psycopg.connect(fresh, autocommit=True) as conn:
        [policy] = conn.execute(
            "select qual from pg_policies where tablename = 'tenant_profiles' and 'authenticated' = any(roles)"
        ).fetchall()
        assert "auth.uid()" in policy[0]
        conn.execute("insert into public.tenants (slug, name, tier, display_name) values ('acme', 'A', 'ga', 'A')")
        conn.execute("insert into public.tenant_profiles (tenant_id, display_name) select id, 'Acme' from tenants")
        member = "11111111-1111-1111-1111-111111111111"
        conn.execute("insert into public.tenant_members select id, %s from public.tenants", (member,))
        conn.execute("grant select on public.tenant_profiles, public.tenant_members to authenticated")
        seen = {}
        for user in (member, "22222222-2222-2222-2222-222222222222"):
            with conn.transaction():
                conn.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub": "{user}"}}',))
                conn.execute("set local role authenticated")
                seen[user] = conn.execute("select count(*) from public.tenant_profiles").fetchone()
        assert seen == {member: (1,), "22222222-2222-2222-2222-222222222222": (0,)}


def test_a_rollback_pair_that_does_not_round_trip_blocks_the_plan(
    build: Callable[..., Container], slack: SlackEmulator, app_root: Path
) -> None:
    built = build()
    (app_root / "supabase/migrations/20260101000000_notes.sql").write_text("create table public.notes (id int);\n")
    (app_root / "supabase/rollbacks/20260101000000_notes_rollback.sql").write_text("select 1; -- forgot the drop\n")
    said = built.services.schema.post_plan("preview")
    assert said.startswith(
        "The plan for `preview` cannot be deployed: clean bootstrap fails at `20260101000000_notes.sql "
        "(again, after 20260101000000_notes_rollback.sql)`: round trip (migration, rollback, migration again) fails:"
    )
    assert 'relation "notes" already exists' in said
    assert "❌ cannot be deployed" in plan_card(slack)

    (app_root / "supabase/rollbacks/20260101000000_notes_rollback.sql").write_text("drop table public.notes;\n")
    assert built.services.schema.post_plan("preview").startswith("The plan for `preview` is ready: 1 file(s)")
    assert "; 1 rollback pair(s) round-trip" in plan_card(slack)


SHADOW = '[schema.environments.preview]\nshadow_database_url_env = "SHADOW_DATABASE_URL"\n'


def test_the_shadow_database_is_emptied_used_and_emptied_again_instead_of_a_scratch_database(
    pg: EmbeddedPostgres,
    dbs: Databases,
    slack: SlackEmulator,
    monkeypatch: pytest.MonkeyPatch,
    build: Callable[..., Container],
) -> None:
    shadow = empty_database(pg, "shadow")
    with psycopg.connect(shadow, autocommit=True) as conn:
        conn.execute("create schema leftovers; create table leftovers.junk (id int); create table public.old (id int)")
    monkeypatch.setenv("SHADOW_DATABASE_URL", shadow)
    container = build(extra=SHADOW)
    (Path(container.services.config.migrations_path) / "20260101000000_x.sql").write_text(
        "create table public.x (id int);\n"
    )
    assert container.services.schema.post_plan("preview").startswith("The plan for `preview` is ready")
    assert "apply from zero in the shadow database" in plan_card(slack)
    with psycopg.connect(shadow, autocommit=True) as conn:
        schemas = conn.execute(
            "select nspname from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema'"
        ).fetchall()
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
    assert schemas == [("public",)] and tables == (0,)

    monkeypatch.setenv("SHADOW_DATABASE_URL", dbs.target_url)  # a mistake that would empty the environment
    said = build(extra=SHADOW).services.schema.post_plan("preview")
    assert said == (
        "The plan for `preview` cannot be deployed: clean bootstrap fails at `shadow database`: the shadow database "
        "is this environment's own database; point it at a disposable one."
    )
    with dbs.target() as conn:
        assert conn.execute("select to_regclass('public.tenants') is not null").fetchone() == (True,)


def test_an_unset_or_unreachable_shadow_database_and_a_missing_prelude_file_are_one_sentence_each(
    monkeypatch: pytest.MonkeyPatch, build: Callable[..., Container], app_root: Path, pg: EmbeddedPostgres
) -> None:
    monkeypatch.delenv("SHADOW_DATABASE_URL", raising=False)
    schema = build(schema='prelude_file = "supabase/platform.sql"', extra=SHADOW).services.schema
    with pytest.raises(PreludeMissing, match=r"schema.prelude_file `supabase/platform.sql` cannot be read"):
        schema.post_plan("preview")
    (app_root / "supabase/platform.sql").write_text("create schema if not exists auth;\n")
    assert schema.post_plan("preview") == (
        "The plan for `preview` cannot be deployed: clean bootstrap fails at `shadow database`: SHADOW_DATABASE_URL "
        "is not set for zdm; set it to the disposable shadow database's URL."
    )
    monkeypatch.setenv("SHADOW_DATABASE_URL", pg.url("no_such_shadow"))
    said = build(extra=SHADOW).services.schema.post_plan("preview")
    assert said.startswith(
        "The plan for `preview` cannot be deployed: clean bootstrap fails at `the shadow database`: could not "
        'prepare it: database "no_such_shadow" does not exist'
    )
