"""Migrations read at a commit of a real git repository (git's smart-HTTP backend on loopback): the plan names the
commit, approvals bind to it, and the deploy applies exactly that commit's files after the branch moved on."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig, load_config
from tests.bot.conftest import card_text
from tests.bot.test_schema_deploy import DBA, LEAD, column_exists, deploy_card, history, press, release_posts, run
from tests.conftest import BotServer, Databases, make_settings, write_config
from tests.edge.git_server import GitHttpServer, git
from tests.fakes import FakeClock

TOKEN = "repo-read-token"
FIRST = "alter table public.tenants add column if not exists timezone text;\n"
FIRST_UNDONE = "alter table public.tenants drop column if exists timezone;\n"
EDITED = "alter table public.tenants add column if not exists timezone text;\nselect 1/0;\n"
LATER = "alter table public.tenants add column if not exists locale text;\n"
MIGRATIONS = "supabase/migrations"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttpServer]:
    remote = tmp_path / "remote"
    remote.mkdir()
    git(remote, "init", "--bare", "--quiet", "--initial-branch=main", "app.git")
    header = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    found = GitHttpServer(remote, authorization=header).start()
    yield found
    found.stop()


@pytest.fixture
def work(tmp_path: Path, server: GitHttpServer, demo_app: Path) -> Path:
    """A developer's clone of the repository with the demo app committed on ``main``."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    shutil.copytree(demo_app / "supabase", work / "supabase")  # the suite's copy: never the working tree's
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "demo app")
    git(work, "push", "--quiet", str(server.root / "app.git"), "main")
    return work


def push(work: Path, server: GitHttpServer, name: str, sql: str, message: str, *, rollback: str | None = None) -> str:
    (work / MIGRATIONS / name).write_text(sql, encoding="utf-8")
    if rollback is not None:  # its pair, out of the Supabase CLI's reach (rollback readiness checks it is there)
        pair = work / "supabase" / "rollbacks" / name.replace(".sql", "_rollback.sql")
        pair.parent.mkdir(parents=True, exist_ok=True)
        pair.write_text(rollback, encoding="utf-8")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", str(server.root / "app.git"), "main")
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def config(tmp_path: Path, app_root: Path, server: GitHttpServer) -> RunbookConfig:
    shutil.rmtree(app_root / "supabase")  # nothing that matters is read from the pod's disk
    extra = '\n[schema]\nbootstrap_seed = false\nlock_timeout_ms = 300\n\n[releases.tz]\nmigrations = ["20260101*"]\n'
    extra += '\n[permissions]\n"schema" = ["dba", "platform_lead", "release_approvers"]\n'  # ONCALL requests
    roles = f'dba = ["{DBA}"]\nplatform_lead = ["{LEAD}"]'
    path = tmp_path / "zdm.toml"
    write_config(path, app_root, extra=extra, roles=roles)
    app = f'[app]\nrepo = "{server.url("app.git")}"\nref = "main"\n'
    path.write_text(path.read_text(encoding="utf-8").replace("[app]\n", app, 1), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, work: Path
) -> Iterator[Container]:
    settings = make_settings(dbs, slack, tmp_path).model_copy(update={"repo_token": SecretStr(TOKEN)})
    built = build_container(settings, config=config, clock=clock)
    yield built
    built.close()


def test_deploy_applies_the_approved_commit_even_after_the_branch_moves_on(
    bot: BotServer, dbs: Databases, work: Path, server: GitHttpServer
) -> None:
    first = push(work, server, "20260101000000_tenant_timezone.sql", FIRST, "timezone", rollback=FIRST_UNDONE)

    bot.command("checklist tz")  # the checklist also reads the repository's newest commit
    bot.settle()
    [checklist] = [card_text(m) for m in bot.slack.in_channel("#release") if "`tz`" in card_text(m)]
    assert "`20260101000000_tenant_timezone.sql`" in checklist

    run(bot, "plan preview")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ✅ ready to deploy*")
    assert "*Pending (1):* `20260101000000_tenant_timezone.sql`" in card_text(plan)
    assert f"`{first[:12]}`" in card_text(plan)  # the plan names the commit it read

    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    assert f"*Commit:* `{first[:12]}`" in card_text(card)
    assert press(bot, card, DBA) == "Approved as `dba`; schema deploy #1 still needs the other approval."

    # the branch moves on: the approved file is edited (it would now fail) and another migration lands
    second = push(work, server, "20260101000000_tenant_timezone.sql", EDITED, "edit timezone")
    third = push(work, server, "20260102000000_tenant_locale.sql", LATER, "locale")
    assert press(bot, deploy_card(bot.slack), LEAD) == "Schema deploy #1 to `preview` applied: `20260101000000`."
    assert column_exists(dbs, "tenants", "timezone") and not column_exists(dbs, "tenants", "locale")
    assert history(dbs)["20260101000000"] == ("tenant_timezone", [FIRST.strip().rstrip(";")])
    assert "20260102000000" not in history(dbs)

    run(bot, "plan preview")  # the next plan reads the branch's newest commit
    newest = release_posts(bot.slack, "*Schema plan for `preview`")[-1]
    assert "`20260102000000_tenant_locale.sql`" in card_text(newest) and f"`{third[:12]}`" in card_text(newest)
    assert f"`{second[:12]}`" not in card_text(newest)
    assert all(auth is not None for _, _, auth in server.requests)  # the token went to the server every time
