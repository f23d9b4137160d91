"""deploy/state-roles.sql on the embedded Postgres: zdm migrates as the owner role and runs as the runtime role,
which can append to the audit log but cannot disable its triggers, change, empty or drop it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.bootstrap import Container, build_container
from bot.embedded import EmbeddedPostgres, ensure_database
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig
from tests.conftest import REPO, BotServer, Databases, make_settings
from tests.fakes import FakeClock

TAMPERING = (
    "alter table zdm.audit_log disable trigger audit_log_append_only",
    "alter table zdm.audit_log disable trigger all",
    "drop trigger audit_log_append_only on zdm.audit_log",
    "create or replace function zdm.refuse_audit_change() returns trigger language sql as 'select null'",
    "update zdm.audit_log set actor = 'someone else'",
    "delete from zdm.audit_log",
    "truncate zdm.audit_log",
    "drop table zdm.audit_log",
    "alter table zdm.audit_log rename to audit_log_old",
    "select setval('zdm.audit_log_id_seq', 1)",
)
_numbers = itertools.count(1)


def as_role(url: str, role: str) -> str:
    return url.replace("postgres:@", f"{role}:@", 1)


@pytest.fixture
def role_urls(pg: EmbeddedPostgres) -> tuple[str, str]:
    """A fresh state database prepared by deploy/state-roles.sql: (owner URL, runtime URL)."""
    name = f"state_roles_{next(_numbers)}"
    ensure_database(pg.url("postgres"), name)
    with psycopg.connect(pg.url(name), autocommit=True) as conn:  # as the superuser, like an operator would
        conn.execute((REPO / "deploy" / "state-roles.sql").read_text(encoding="utf-8").encode())
    return as_role(pg.url(name), "zdm_owner"), as_role(pg.url(name), "zdm_runtime")


@pytest.fixture
def container(
    dbs: Databases,
    slack: SlackEmulator,
    config: RunbookConfig,
    tmp_path: Path,
    clock: FakeClock,
    role_urls: tuple[str, str],
) -> Iterator[Container]:
    owner, runtime = role_urls
    settings = make_settings(dbs, slack, tmp_path, state_url=runtime)
    settings = settings.model_copy(update={"state_owner_database_url": owner})
    assert settings.audit_tamper_proof
    built = build_container(settings, config=config, clock=clock)
    yield built
    built.close()


def audit_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select count(*) from zdm.audit_log").fetchone()
    assert row is not None
    return int(row[0])


def test_the_bot_runs_as_the_runtime_role_and_that_role_cannot_tamper_with_the_audit_log(
    bot: BotServer, dbs: Databases, role_urls: tuple[str, str]
) -> None:
    owner, runtime = role_urls
    with psycopg.connect(runtime, autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("zdm_runtime",)
    assert "Rolling back `pilot_a`" in bot.command("rollback tenant pilot_a checkout errors").json()["text"]
    bot.settle()
    with dbs.target() as conn:
        flag = conn.execute("select enabled from public.feature_flags where tenant_slug = 'pilot_a'").fetchone()
    assert flag == (False,)
    before = audit_count(runtime)
    assert before > 0  # the rollback was audited through the runtime role

    for statement in TAMPERING:
        with psycopg.connect(runtime, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.encode())
    assert audit_count(runtime) == before
    with psycopg.connect(owner, autocommit=True) as conn:
        owners = conn.execute(
            "select distinct pg_get_userbyid(relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'zdm'"
        ).fetchall()
    assert owners == [("zdm_owner",)]
