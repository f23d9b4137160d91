"""Rollback readiness through signed Slack requests: each check failing on its own breaks the line on the approval
card and refuses the approval with one sentence naming it; nothing is enabled or applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig, load_config
from commands.rollout.views import APPROVE_ACTION
from commands.schema.views import APPROVE_ACTION as SCHEMA_APPROVE
from tests.bot.conftest import card_text, enabled, prompt_for
from tests.conftest import APPROVER, BotServer, Databases, make_settings, serving, write_config
from tests.fakes import FakeClock

PLAN = """
[rollout]
default_plan = "one"

[[rollout.plans.one]]
name = "demo tenant"
at = "0h"
slugs = ["demo_icupa"]

[releases.tenant-profiles]
migrations = ["20250301000000_*"]
"""
FAILING_CHECK = """
[flag]
backend = "command"
enable_argv = ["{python}", "scripts/flags.py", "enable", "{flag}", "--tenant={tenant}", "--actor={actor}"]
disable_argv = ["{python}", "scripts/flags.py", "disable", "{flag}", "--tenant={tenant}", "--actor={actor}"]
check_argv = ["{python}", "-c", "raise SystemExit(3)"]
"""
CASES = {
    "rollback files": ("", "`20250301000000_tenant_profiles.sql` has no `_rollback.sql` pair"),
    "restore function": ("", "`sp_restore_legacy_tenant_views` does not exist in the target database"),
    "flag backend": (FAILING_CHECK, "the command backend did not answer"),
    "smoke command": ('smoke_argv = ["zdm-no-such-smoke-runner", "{tenant}"]', "is not found on PATH"),
}


@pytest.fixture
def config(tmp_path: Path, app_root: Path, case: str) -> RunbookConfig:
    extra, _ = CASES.get(case, ("", ""))
    path = tmp_path / "zdm.toml"
    if not extra.startswith("smoke_argv"):
        return write_config(path, app_root, extra=extra + PLAN)
    write_config(path, app_root, extra=PLAN)
    lines = [extra if line.startswith("smoke_argv") else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines), encoding="utf-8")
    return load_config(path)


def break_it(case: str, *, app_root: Path, dbs: Databases) -> None:
    if case == "rollback files":
        (app_root / "supabase" / "rollbacks" / "20250301000000_tenant_profiles_rollback.sql").unlink()
    if case == "restore function":
        with dbs.target() as conn:
            conn.execute("drop function public.sp_restore_legacy_tenant_views()")


@pytest.mark.parametrize("case", ["healthy"])
def test_a_healthy_rollback_path_is_one_green_line_on_the_prompt(bot: BotServer, case: str) -> None:
    bot.command("rollout start")
    bot.settle()
    text = card_text(prompt_for(bot.slack, 1))
    assert "🛟 *Rollback path ready* (4 of 4 checks pass)" in text
    assert "✅ rollback files: 1 of 1 migrations of `tenant-profiles` have a pair" in text
    assert "✅ restore function: `sp_restore_legacy_tenant_views` exists in the target database" in text
    assert "✅ flag backend: the postgres backend answered" in text and "✅ smoke command:" in text


@pytest.mark.parametrize("case", list(CASES))
def test_each_failed_check_breaks_the_card_and_refuses_the_approval(
    bot: BotServer, dbs: Databases, app_root: Path, case: str
) -> None:
    break_it(case, app_root=app_root, dbs=dbs)
    bot.command("rollout start")
    bot.settle()
    text = card_text(prompt_for(bot.slack, 1))
    assert f"🚫 *Rollback path broken*: {case} — " in text and CASES[case][1] in text

    assert bot.click(prompt_for(bot.slack, 1), APPROVE_ACTION, user=APPROVER).status_code == 200
    bot.settle()
    said = bot.responses()[-1]
    assert said.startswith("Nothing was approved for step 1 of rollout #1: the rollback path is broken: ")
    assert case in said and CASES[case][1] in said
    assert "demo_icupa" not in enabled(dbs)
    with dbs.state() as conn:
        row = conn.execute(
            "select actor, outcome from zdm.audit_log where action = 'rollout.approve' order by id desc limit 1"
        ).fetchone()
    assert row == (APPROVER, "blocked")


DBA, LEAD = "U0DBA", "U0LEAD"


@pytest.fixture
def schema_container(
    dbs: Databases, slack: SlackEmulator, tmp_path: Path, app_root: Path, clock: FakeClock
) -> Iterator[Container]:
    roles = f'dba = ["{DBA}"]\nplatform_lead = ["{LEAD}"]'
    config = write_config(tmp_path / "zdm.toml", app_root, extra="[schema]\nbootstrap_seed = false\n", roles=roles)
    built = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    yield built
    built.close()


def test_a_missing_restore_function_blocks_the_schema_deploy_approval(
    schema_container: Container, slack: SlackEmulator, dbs: Databases, app_root: Path
) -> None:
    (app_root / "supabase" / "migrations" / "20260101000000_tenant_timezone.sql").write_text(
        "alter table public.tenants add column if not exists timezone text;\n"
    )
    break_it("restore function", app_root=app_root, dbs=dbs)
    with serving(schema_container, slack) as bot:
        bot.command("schema deploy preview", user=DBA)
        bot.settle()
        [card] = [m for m in slack.in_channel("#release") if card_text(m).startswith("*Schema deploy #1 ")]
        text = card_text(card)
        assert "🚫 *Rollback path broken*: restore function — `sp_restore_legacy_tenant_views` does not exist" in text
        bot.click(card, SCHEMA_APPROVE, user=LEAD)
        bot.settle()
        said = bot.responses()[-1]
    assert said.startswith("Nothing was approved for schema deploy #1: the rollback path is broken: restore function")
    with dbs.state() as conn:
        outcome = conn.execute("select outcome from zdm.audit_log where action = 'schema.deploy.approve'").fetchone()
    assert outcome == ("blocked",)
