"""The real Supabase CLI (npm `supabase@2.117.0`, installed by `./dev.sh setup` into .venv/supabase-cli) against
zdm's history: the same rows, each sees the other's deploys, and `mode = "supabase"` drives it with `--db-url`."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from bot.bootstrap import build_container
from bot.embedded import EmbeddedPostgres, ensure_database
from bot.local.emulator import SlackEmulator
from commands.adapters.schema_pg import PgSchemaTarget
from commands.schema.history import list_migrations, split_statements
from commands.schema.prelude import bundled_prelude
from commands.schema.scaffold import new_migration
from tests.conftest import ONCALL, REPO, Databases, make_settings, write_config
from tests.fakes import FakeClock

CLI = REPO / ".venv" / "supabase-cli" / "node_modules" / ".bin" / "supabase"
pytestmark = pytest.mark.skipif(
    not CLI.exists(), reason="the Supabase CLI is not installed (./dev.sh setup installs it when npm is available)"
)
_numbers = iter(range(1, 1000))


def fresh_supabase_database(pg: EmbeddedPostgres) -> str:
    """An empty database with what a Supabase project has before its first migration."""
    name = f"cli_{next(_numbers)}"
    ensure_database(pg.url("postgres"), name)
    url = pg.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in split_statements(bundled_prelude()):
            conn.execute(statement.encode())
    return url


def cli_url(url: str) -> str:
    """The URL as the CLI parses it: the embedded Postgres listens on a unix socket only (host=<dir>)."""
    parts = conninfo_to_dict(url)
    return (
        f"postgresql://{parts.get('user', 'postgres')}@localhost/{parts['dbname']}?host={parts['host']}&sslmode=disable"
    )


def supabase(workdir: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(CLI), *args, "--yes"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def history(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by 1"
        ).fetchall()


@pytest.fixture
def project(tmp_path: Path, demo_app: Path) -> Path:
    """A checkout of the demo app: supabase/migrations and supabase/rollbacks (the suite's copy of its tracked
    files, so a walkthrough's leftovers in examples/icupa cannot change it)."""
    shutil.copytree(demo_app / "supabase", tmp_path / "app" / "supabase")
    return tmp_path / "app"


def test_cli_push_and_zdm_native_deploy_write_the_same_history_and_each_sees_the_other_up_to_date(
    pg: EmbeddedPostgres, project: Path
) -> None:
    by_cli, by_zdm = fresh_supabase_database(pg), fresh_supabase_database(pg)
    pushed = supabase(project, "db", "push", "--db-url", cli_url(by_cli))
    assert "Applying migration 20250301000000_tenant_profiles.sql" in pushed and "_rollback" not in pushed
    files = list_migrations(project / "supabase" / "migrations")
    assert PgSchemaTarget(by_zdm).apply(files, lock_timeout_ms=5000) == [m.version for m in files]
    assert history(by_cli) == history(by_zdm) and len(history(by_zdm)) == 6

    listed = supabase(project, "migration", "list", "--db-url", cli_url(by_zdm))
    for m in files:
        assert f"`{m.version}` | `{m.version}`" in listed  # local and remote: applied
    assert "Remote database is up to date." in supabase(project, "db", "push", "--dry-run", "--db-url", cli_url(by_zdm))
    assert PgSchemaTarget(by_cli).applied() == {m.version: m.name for m in files}  # and zdm reads the CLI's rows

    # a new user's first step: `zdm schema new`; the CLI sees the migration, never its rollback
    forward, rollback = new_migration(
        project / "supabase" / "migrations", "add tenant locale", rollbacks=project / "supabase" / "rollbacks",
        now=datetime.now(UTC),
    )  # fmt: skip
    pending = supabase(project, "db", "push", "--dry-run", "--db-url", cli_url(by_zdm))
    assert forward.name in pending and rollback.name not in pending and "_rollback" not in pending


def test_supabase_mode_drives_the_real_cli_with_db_url_and_reads_its_history(
    pg: EmbeddedPostgres,
    dbs: Databases,
    slack: SlackEmulator,
    app_root: Path,
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = fresh_supabase_database(pg)
    monkeypatch.setenv("ZDM_TEST_CLI_TARGET", target)
    monkeypatch.setenv("HOME", str(tmp_path))  # the CLI keeps its telemetry file under $HOME
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    argv = [str(CLI), "db", "push", "--db-url", cli_url(target), "--yes"]
    extra = (
        "[schema]\nbootstrap_seed = false\n\n[schema.environments.fresh]\n"
        'database_url_env = "ZDM_TEST_CLI_TARGET"\napprovals = false\nmode = "supabase"\n'
        "push_argv = [" + ", ".join(f'"{a}"' for a in argv) + "]\n"
    )
    config = write_config(tmp_path / "zdm.toml", app_root, extra=extra)
    stray = app_root / "supabase" / "migrations" / "20250301000000_tenant_profiles_rollback.sql"
    shutil.copy(app_root / "supabase" / "rollbacks" / stray.name, stray)  # the runbook's layout
    container = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    try:
        refused = container.services.schema.request_deploy("fresh", actor=ONCALL)
        assert refused.startswith(f"Nothing was deployed to `fresh`: lint blocks `{stray.name}:1`")
        assert (
            PgSchemaTarget(target).applied() == {}
        )  # the CLI never ran: it would have pushed the rollback as a migration
        stray.unlink()
        said = container.services.schema.request_deploy("fresh", actor=ONCALL)
    finally:
        container.close()
    assert said.startswith("Schema deploy #1 to `fresh` applied: `20250101000000`") and "`20250320000000`" in said
    assert [row[0] for row in history(target)] == [m.version for m in list_migrations(app_root / "supabase/migrations")]
