"""`/zdm schema plan|deploy` through real Bolt requests, on real Postgres, with squawk and a local GitHub."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from bot.bootstrap import Container, build_container
from bot.local.emulator import Message, SlackEmulator
from bot.local.standins import GitHubStandIn
from commands.adapters.github import GitHubIssues
from commands.adapters.outbox_pg import PgOutbox
from commands.adapters.records_local import LocalFolderDestination
from commands.config import RunbookConfig
from commands.schema.release_delivery import ReleaseIssueDestination
from commands.schema.views import APPROVE_ACTION, CANCEL_ACTION
from tests.bot.conftest import card_text
from tests.conftest import ONCALL, STRANGER, BotServer, Databases, make_settings, write_config
from tests.fakes import FakeClock

DBA, LEAD, BOTH = "U0DBA", "U0LEAD", "U0BOTH"
REPO = "icupa/app"
RELEASE_BODY = "## Summary\nProfiles.\n\n## DB Changes\n\n- none yet\n\n## Notes\nWritten by a person.\n"
ADDITIVE = "alter table public.tenants add column if not exists timezone text;\n"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    extra = f"""
[schema]
bootstrap_seed = false
lock_timeout_ms = 300

[release]
github_repo = "{REPO}"
issue = 1

[permissions]
"schema" = ["dba", "platform_lead", "release_approvers"]  # release approvers (ONCALL) may request deploys here
"""
    roles = f'dba = ["{DBA}", "{BOTH}"]\nplatform_lead = ["{LEAD}", "{BOTH}"]'
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra, roles=roles)


@pytest.fixture
def github(github: GitHubStandIn) -> GitHubStandIn:
    """The shared GitHub stand-in, holding the release issue."""
    github.add_issue(REPO, title="Release 42", body=RELEASE_BODY)
    return github


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, github: GitHubStandIn
) -> Iterator[Container]:
    settings = make_settings(dbs, slack, tmp_path, github=github)
    built = build_container(settings, config=config, clock=clock)
    yield built
    built.close()


def add(app_root: Path, name: str, sql: str) -> Path:
    path = app_root / "supabase" / "migrations" / name
    path.write_text(sql, encoding="utf-8")
    return path


def history(dbs: Databases) -> dict[str, tuple[str, list[str]]]:
    with dbs.target() as conn:
        rows = conn.execute("select version, name, statements from supabase_migrations.schema_migrations").fetchall()
    return {r[0]: (r[1], list(r[2])) for r in rows}


def column_exists(dbs: Databases, table: str, column: str) -> bool:
    with dbs.target() as conn:
        row = conn.execute(
            "select 1 from information_schema.columns where table_schema = 'public' and table_name = %s"
            " and column_name = %s",
            (table, column),
        ).fetchone()
    return row is not None


def release_posts(slack: SlackEmulator, title: str) -> list[Message]:
    return [m for m in slack.in_channel("#release") if card_text(m).startswith(title)]


def ask(bot: BotServer, text: str) -> str:
    """The ephemeral answer to ``/zdm <text>`` (given with the ack)."""
    return str(bot.command(text, user=ONCALL).json()["text"])


def run(bot: BotServer, text: str, *, user: str = ONCALL) -> str:
    """A slash command; return its ack text after the work started by the ack has finished."""
    ack = bot.command(f"schema {text}", user=user).json()["text"]
    bot.settle()
    return str(ack)


def deploy_card(slack: SlackEmulator, deploy_id: int = 1) -> Message:
    [card] = release_posts(slack, f"*Schema deploy #{deploy_id} ")
    return card


def press(bot: BotServer, card: Message, user: str, action: str = APPROVE_ACTION) -> str:
    bot.click(card, action, user=user)
    bot.settle()
    return bot.responses()[-1]


def test_additive_migration_planned_approved_by_two_roles_applied_and_recorded_once(
    bot: BotServer, dbs: Databases, app_root: Path, github: GitHubStandIn
) -> None:
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    rollback = app_root / "supabase" / "rollbacks" / "20260101000000_tenant_timezone_rollback.sql"
    rollback.write_text("alter table public.tenants drop column timezone;")
    applied_before = history(dbs)

    assert run(bot, "plan preview").startswith("Planning `preview`")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ✅ ready to deploy*")
    text = card_text(plan)
    assert "*Pending (1):* `20260101000000_tenant_timezone.sql`" in text
    assert f"*Applied:* {len(applied_before)} migrations" in text
    assert "Clean bootstrap:* ✅ all 7 migrations apply from zero" in text
    assert bot.responses()[-1].startswith("The plan for `preview` is ready: 1 file(s), plan hash")

    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    assert "⏳ awaiting approval" in card_text(card) and not column_exists(dbs, "tenants", "timezone")
    assert press(bot, card, DBA) == "Approved as `dba`; schema deploy #1 still needs the other approval."
    assert not column_exists(dbs, "tenants", "timezone")
    assert press(bot, card, LEAD) == "Schema deploy #1 to `preview` applied: `20260101000000`."

    assert column_exists(dbs, "tenants", "timezone")
    assert history(dbs)["20260101000000"] == ("tenant_timezone", [ADDITIVE.strip().rstrip(";")])
    assert "20260101000000" in history(dbs) and len(history(dbs)) == len(applied_before) + 1  # rollback file never
    final = card_text(deploy_card(bot.slack))
    assert "✅ applied" in final and f"<@{DBA}>" in final and f"<@{LEAD}>" in final
    assert "recorded; DB Changes in release issue #1" in final

    body = github.issue(REPO, 1)["body"]
    assert body.count("<!-- zdm:dbchanges:") == 1 and "- none yet" not in body
    assert "`preview` 2026-" in body and "`20260101000000`" in body
    assert f"approved by {DBA} (dba), {LEAD} (platform_lead); requested by {ONCALL}" in body
    assert body.endswith("## Notes\nWritten by a person.\n")
    [patch] = github.requests("PATCH")
    assert patch.headers["authorization"] == "Bearer ghp-test"
    assert patch.headers["accept"] == "application/vnd.github+json" and patch.headers["x-github-api-version"]
    assert set(patch.body) == {"body"}

    assert run(bot, "deploy preview").startswith("Checking `preview`")
    assert bot.responses()[-1] == "`preview` is up to date: nothing to deploy."
    assert len(github.requests("PATCH")) == 1 and len(release_posts(bot.slack, "*Schema deploy #")) == 1


def test_destructive_and_squawk_findings_block_with_file_line_and_advice(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    add(
        app_root,
        "20260101000000_cleanup.sql",
        "alter table public.tenants add column if not exists note text;\n"
        "create index tenants_note_idx on public.tenants (note);\n"
        "alter table public.tenants\n  drop column contact_email cascade;\n"
        "alter table public.orders add column currency text not null;\n",
    )
    run(bot, "plan preview")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ❌ cannot be deployed*")
    text = card_text(plan)
    assert "⛔ `20260101000000_cleanup.sql:4` zdm/additive-only: not additive: this statement drops a column" in text
    assert "`alter table public.tenants drop column contact_email cascade`" in text
    assert "⛔ `20260101000000_cleanup.sql:5` squawk/adding-required-field" in text
    assert "⚠️ `20260101000000_cleanup.sql:2` squawk/require-concurrent-index-creation" in text
    [failure] = release_posts(bot.slack, "*❌ Schema plan for `preview` failed*")
    assert "20260101000000_cleanup.sql:4" in card_text(failure)

    assert run(bot, "deploy preview").startswith("Checking")
    assert bot.responses()[-1].startswith(
        "Nothing was deployed to `preview`: lint blocks `20260101000000_cleanup.sql:4`"
    )
    assert release_posts(bot.slack, "*Schema deploy #") == []
    assert column_exists(dbs, "tenants", "contact_email") and not column_exists(dbs, "tenants", "note")


def test_a_rollback_file_in_the_migrations_folder_blocks_the_plan_and_says_how_to_move_it(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    """The runbook's old layout: `supabase db push` would run the rollback forward (checked with the real CLI)."""
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    add(app_root, "20260101000000_tenant_timezone_rollback.sql", "alter table public.tenants drop column timezone;")
    run(bot, "plan preview")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ❌ cannot be deployed*")
    text = card_text(plan)
    assert "*Pending (1):* `20260101000000_tenant_timezone.sql`" in text
    assert (
        "⛔ `20260101000000_tenant_timezone_rollback.sql:1` zdm/cli-would-apply: `supabase db push` would apply "
        "this rollback forward as migration 20260101000000"
    ) in text
    assert "move it to `supabase/rollbacks/` (`zdm schema move-rollbacks` does it)" in text
    assert "— `" not in text.split("cli-would-apply")[1].split("\n")[0]  # no statement quoted: the file is the issue
    run(bot, "deploy preview")
    assert bot.responses()[-1].startswith(
        "Nothing was deployed to `preview`: lint blocks `20260101000000_tenant_timezone_rollback.sql:1`"
    )
    assert not column_exists(dbs, "tenants", "timezone")


DYNAMIC = "do $$ begin execute 'alter table public.orders drop column total_eur'; end $$;\n"


def test_dynamic_sql_needs_review_and_approving_on_the_card_acknowledges_it(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    add(app_root, "20260101000000_dynamic.sql", ADDITIVE + DYNAMIC)
    run(bot, "plan preview")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ✅ ready to deploy*")
    text = card_text(plan)
    assert "*Lint:* 0 blocking, 1 to review (approving the deploy acknowledges them)" in text
    assert "🔎 `20260101000000_dynamic.sql:2` zdm/needs-review: needs review: this statement runs a `do` block" in text
    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    shown = card_text(card)
    assert "*Needs review* (the lint cannot see what these run; approving acknowledges them)" in shown
    assert "🔎 `20260101000000_dynamic.sql:2` `do $$ begin execute 'alter table public.orders drop column" in shown
    approve = next(e for b in card.blocks if b["type"] == "actions" for e in b["elements"] if "confirm" in e)
    assert approve["action_id"] == APPROVE_ACTION and "Acknowledge" in approve["confirm"]["title"]["text"]
    press(bot, card, DBA)
    press(bot, card, LEAD)
    assert not column_exists(dbs, "orders", "total_eur")  # what the approvers acknowledged ran
    with dbs.state() as conn:
        acknowledged = conn.execute(
            "select actor, detail->'acknowledged' from zdm.audit_log where action = 'schema.deploy.approve'"
            " and outcome = 'ok' order by id"
        ).fetchall()
    assert [a for a, _ in acknowledged] == [DBA, LEAD] and all("dynamic.sql:2" in str(d) for _, d in acknowledged)


def test_dynamic_sql_blocks_where_nobody_approves(
    tmp_path: Path, dbs: Databases, slack: SlackEmulator, app_root: Path, clock: FakeClock
) -> None:
    add(app_root, "20260101000000_dynamic.sql", DYNAMIC)
    config = write_config(tmp_path / "zdm.toml", app_root, extra="[schema.environments.preview]\napprovals = false\n")
    built = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    try:
        said = built.services.schema.request_deploy("preview", actor=ONCALL)
    finally:
        built.close()
    assert said.startswith("Nothing was deployed to `preview`: lint blocks `20260101000000_dynamic.sql:1`")
    assert "needs review" in said and column_exists(dbs, "orders", "total_eur")


def test_a_broken_bootstrap_names_the_file_and_leaves_no_scratch_database(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    add(app_root, "20260101000000_views.sql", "create view public.active as select * from public.tenant_status;\n")
    run(bot, "plan preview")
    [plan] = release_posts(bot.slack, "*Schema plan for `preview`: ❌ cannot be deployed*")
    assert (
        "*Clean bootstrap:* ❌ `20260101000000_views.sql` fails after 6 migrations in a scratch database: "
        'relation "public.tenant_status" does not exist'
    ) in card_text(plan)
    with dbs.target() as conn:
        left = conn.execute("select count(*) from pg_database where datname like 'zdm_scratch_%'").fetchone()
    assert left == (0,)


def test_wrong_role_requester_twice_and_changed_files_are_refused(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    path = add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    assert run(bot, "deploy preview", user=STRANGER).startswith("Only members of `dba` or `platform_lead` or")
    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    assert press(bot, card, ONCALL).startswith("You requested schema deploy #1, so you cannot approve it")
    assert press(bot, card, STRANGER).startswith("Schema deploy #1 still needs approval from `dba` or `platform_lead`")
    assert press(bot, card, BOTH) == "Approved as `dba`; schema deploy #1 still needs the other approval."
    assert press(bot, card, BOTH).startswith("You already approved schema deploy #1")
    assert press(bot, card, DBA).startswith("Schema deploy #1 still needs approval from `platform_lead`")

    path.write_text(ADDITIVE + "alter table public.tenants add column if not exists locale text;\n")
    assert press(bot, card, LEAD).startswith(
        "This prompt is stale: schema deploy #1 is void: a migration file changed after the request"
    )
    text = card_text(deploy_card(bot.slack))
    assert "⛔ void" in text and "approvals are void" in text and APPROVE_ACTION not in str(card.blocks)
    assert not column_exists(dbs, "tenants", "timezone")
    with dbs.state() as conn:
        outcomes = conn.execute(
            "select actor, outcome from zdm.audit_log"
            " where action like 'schema.deploy.%%' or action = 'command.refused' order by id"
        ).fetchall()
    assert ("U0STRANGER", "refused") in outcomes and (ONCALL, "refused") in outcomes and (LEAD, "void") in outcomes

    run(bot, "deploy preview")  # a new request for the changed files: fresh approvals
    card = deploy_card(bot.slack, 2)
    press(bot, card, DBA)
    assert press(bot, card, LEAD, action=CANCEL_ACTION) == "Schema deploy #2 cancelled; nothing was applied."
    assert "⛔ void" in card_text(deploy_card(bot.slack, 2)) and not column_exists(dbs, "tenants", "locale")


def test_a_file_that_cannot_get_its_lock_rolls_back_alone_and_is_posted_to_release(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    add(
        app_root,
        "20260102000000_order_currency.sql",
        "alter table public.tenants add column if not exists locale text;\n"
        "alter table public.orders add column if not exists currency text;\n",
    )
    before = history(dbs)
    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    press(bot, card, DBA)
    with dbs.target() as reader, reader.transaction():  # a long report holds orders while the deploy runs
        reader.execute("select count(*) from public.orders")
        said = press(bot, card, LEAD)
    assert said.startswith("Schema deploy #1 failed at `20260102000000_order_currency.sql`: canceling statement")
    assert "lock_timeout" in said
    assert column_exists(dbs, "tenants", "timezone")  # the file before it stays applied
    assert not column_exists(dbs, "tenants", "locale")  # the failing file's first statement was rolled back
    assert set(history(dbs)) - set(before) == {"20260101000000"}
    text = card_text(deploy_card(bot.slack))
    assert "❌ failed" in text and "*Applied:* `20260101000000`" in text
    [failure] = release_posts(bot.slack, "*❌ Schema deploy #1 to `preview` failed*")
    assert "`20260102000000_order_currency.sql` (rolled back" in card_text(failure)

    run(bot, "deploy preview")  # once the lock is gone, a new deploy applies only what is left
    card = deploy_card(bot.slack, 2)
    assert "`20260102000000_order_currency.sql`" in card_text(card) and "tenant_timezone" not in card_text(card)
    press(bot, card, DBA)
    assert press(bot, card, LEAD) == "Schema deploy #2 to `preview` applied: `20260102000000`."


def test_an_older_pending_file_is_refused_unless_include_all(bot: BotServer, dbs: Databases, app_root: Path) -> None:
    add(app_root, "20250102000000_forgotten.sql", "create table if not exists public.forgotten (id bigint);\n")
    run(bot, "deploy preview")
    assert "`20250102000000_forgotten.sql` is older than the newest applied migration" in bot.responses()[-1]
    run(bot, "deploy preview --include-all")
    card = deploy_card(bot.slack)
    press(bot, card, DBA)
    assert press(bot, card, LEAD) == "Schema deploy #1 to `preview` applied: `20250102000000`."


def test_history_table_has_the_supabase_cli_shape(bot: BotServer, dbs: Databases) -> None:
    with dbs.target() as conn:
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'supabase_migrations' and table_name = 'schema_migrations' order by ordinal_position"
        ).fetchall()
        key = conn.execute(
            "select a.attname from pg_index i"
            " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
            " where i.indrelid = 'supabase_migrations.schema_migrations'::regclass and i.indisprimary"
        ).fetchall()
    assert columns == [("version", "text"), ("statements", "ARRAY"), ("name", "text")] and key == [("version",)]


def zdm_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={"ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_schema_new_puts_the_pair_out_of_the_cli_reach_and_move_rollbacks_fixes_the_old_layout(
    tmp_path: Path, app_root: Path
) -> None:
    write_config(tmp_path / "zdm.toml", app_root)
    done = zdm_cli(tmp_path, "schema", "new", "Add tenant locale")
    assert done.returncode == 0 and done.stdout.count("created ") == 2
    [forward] = (app_root / "supabase" / "migrations").glob("*_add_tenant_locale*.sql")
    [rollback] = (app_root / "supabase" / "rollbacks").glob("*_add_tenant_locale*.sql")
    assert rollback.name == forward.name.replace(".sql", "_rollback.sql")

    stray = add(app_root, "20260101000000_tenant_timezone_rollback.sql", "alter table public.tenants drop timezone;")
    moved = zdm_cli(tmp_path, "schema", "move-rollbacks")
    assert moved.returncode == 0 and "moved " in moved.stdout and not stray.exists()
    assert (app_root / "supabase" / "rollbacks" / stray.name).read_text().startswith("alter table")
    assert "nothing to move" in zdm_cli(tmp_path, "schema", "move-rollbacks").stdout

    add(app_root, stray.name, "select 1;")  # a different file of the same name: refused, nothing moves
    conflict = zdm_cli(tmp_path, "schema", "move-rollbacks")
    assert conflict.returncode == 2 and "already exists with other content" in conflict.stderr
    assert stray.exists() and "Traceback" not in conflict.stderr


def test_a_deploy_left_applying_by_a_crash_is_finished_by_the_scheduler_once(
    container: Container, dbs: Databases, app_root: Path, slack: SlackEmulator
) -> None:
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    add(app_root, "20260102000000_tenant_locale.sql", "alter table public.tenants add column locale text;\n")
    schema = container.services.schema
    schema.request_deploy("preview", actor=ONCALL)
    schema.approve(value=button_value(deploy_card(slack), APPROVE_ACTION), actor=DBA)
    with dbs.state() as conn:  # the process died after the first file, with the deploy marked applying
        conn.execute(
            "update zdm.schema_deploys set status = 'applying', doc = jsonb_set(doc, '{status}', '\"applying\"')"
        )
    with dbs.target() as conn, conn.transaction():
        conn.execute(ADDITIVE)
        conn.execute(
            "insert into supabase_migrations.schema_migrations values ('20260101000000', '{}', 'tenant_timezone')"
        )
    container.services.scheduled_jobs()["resume_schema_deploys"](container.services.clock.now())
    container.services.scheduled_jobs()["resume_schema_deploys"](container.services.clock.now())
    assert column_exists(dbs, "tenants", "locale")
    text = card_text(deploy_card(slack))
    assert "✅ applied" in text and "*Applied:* `20260101000000`, `20260102000000`" in text
    assert "resumed after a zdm restart" in text


def button_value(message: Message, action: str) -> str:
    return str(
        next(
            e["value"]
            for b in message.blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action
        )
    )


def test_a_release_issue_github_refuses_leaves_the_deploy_applied_and_says_so(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    run(bot, "deploy preview --release 9")
    card = deploy_card(bot.slack)
    press(bot, card, DBA)
    assert press(bot, card, LEAD) == "Schema deploy #1 to `preview` applied: `20260101000000`."
    assert column_exists(dbs, "tenants", "timezone")
    # the line is kept in the outbox (retried with backoff), and the card says why it has not landed
    final = card_text(deploy_card(bot.slack))
    assert "recorded; delivery pending after 1 attempt(s): GitHub failed for icupa/app#9: HTTP 404 Not Found" in final
    assert "DB Changes: schema deploy #1 to `preview` — delivery pending" in ask(bot, "log")


def test_a_deploy_while_github_is_down_is_recorded_at_once_and_lands_in_the_release_issue_exactly_once(
    bot: BotServer, container: Container, dbs: Databases, app_root: Path, github: GitHubStandIn, clock: FakeClock
) -> None:
    add(app_root, "20260101000000_tenant_timezone.sql", ADDITIVE)
    run(bot, "deploy preview")
    card = deploy_card(bot.slack)
    press(bot, card, DBA)
    github.unavailable = 503
    assert press(bot, card, LEAD) == "Schema deploy #1 to `preview` applied: `20260101000000`."
    assert column_exists(dbs, "tenants", "timezone")  # GitHub being down does not fail the deploy
    assert "recorded; delivery pending after 1 attempt(s)" in card_text(deploy_card(bot.slack))
    listed = ask(bot, "log")
    assert "DB Changes: schema deploy #1 to `preview` — delivery pending" in listed
    assert "`release-issue:icupa/app#1`" in listed
    assert github.issue(REPO, 1)["body"] == RELEASE_BODY and github.requests("PATCH") == []

    # GitHub back: the outbox job delivers the line once and the card says where it is
    github.unavailable = None
    clock.advance(timedelta(minutes=5))
    assert container.services.outbox.deliver_due(clock.now()) is None  # delivered, nothing waits any more
    body = github.issue(REPO, 1)["body"]
    assert body.count("<!-- zdm:dbchanges:") == 1 and body.count("(zdm schema deploy #1)") == 1
    assert "- none yet" not in body and body.endswith("## Notes\nWritten by a person.\n")
    assert "recorded; DB Changes in release issue #1" in card_text(deploy_card(bot.slack))
    assert "DB Changes in release issue #1" in ask(bot, "log")

    # delivering again changes nothing: the job finds nothing due, and a repeated delivery (a replica that crashed
    # after its PATCH) upserts the line by its marker
    clock.advance(timedelta(hours=2))
    assert container.services.outbox.deliver_due(clock.now()) is None
    marker = "<!-- zdm:dbchanges:" + body.split("<!-- zdm:dbchanges:", 1)[1].split(" -->", 1)[0] + " -->"
    with ConnectionPool(container.state_url, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
        entry = PgOutbox(pool).get(marker)
    assert entry is not None and entry.delivered_to == "DB Changes in release issue #1"
    replica = ReleaseIssueDestination(
        others=LocalFolderDestination(app_root),
        issues=GitHubIssues(token=github.token, api_url=github.url),
        exclusive=lambda name, *, wait_s: nullcontext(True),
    )
    assert replica.deliver(entry) == "DB Changes in release issue #1"
    assert len(github.requests("PATCH")) == 1 and github.issue(REPO, 1)["body"] == body
