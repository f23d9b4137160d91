"""The `command` flag backend: the team's flag CLI runs tenant by tenant (as an argv, no shell), and each tenant's
result is reported; here the CLI is the demo app's `scripts/flags.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.config import RunbookConfig
from tests.bot.conftest import approve, card_text, enabled, prompt_for
from tests.conftest import APPROVER, BotServer, Databases, write_config

CLI_PLAN = """
[flag]
backend = "command"
enable_argv = ["{python}", "scripts/flags.py", "enable", "{flag}", "--tenant={tenant}", "--actor={actor}"]
disable_argv = ["{python}", "scripts/flags.py", "disable", "{flag}", "--tenant={tenant}", "--actor={actor}"]

[rollout]
default_plan = "cli"

[[rollout.plans.cli]]
name = "two tenants"
at = "0h"
slugs = ["demo_icupa", "ga_gone"]
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=CLI_PLAN)


def test_the_flag_cli_runs_per_tenant_and_each_failure_is_reported(
    bot: BotServer, dbs: Databases, config: RunbookConfig
) -> None:
    with dbs.target() as conn:
        conn.execute(
            "insert into public.tenants (slug, name, tier, display_name) values ('ga_gone', 'Gone', 'ga', 'Gone')"
        )
    bot.command("rollout start")
    bot.settle()
    assert "Cohort: *2 tenants*" in card_text(prompt_for(bot.slack, 1))
    with dbs.target() as conn:  # the tenant is deleted between the prompt and the click
        conn.execute("delete from public.tenants where slug = 'ga_gone'")

    approve(bot, 1, APPROVER)
    card = card_text(prompt_for(bot.slack, 1))
    assert "✅ Enabled for 1 tenants by <@U0APPROVER>" in card
    assert "❌ failed for 1: `ga_gone`" in card and "exit code 1" in card
    assert "demo_icupa" in enabled(dbs)
    with dbs.target() as conn:
        who = conn.execute("select updated_by from feature_flags where tenant_slug = 'demo_icupa'").fetchone()[0]
    assert who == APPROVER  # the CLI really ran, with the approver passed as an argument
    with dbs.state() as conn:
        outcomes = conn.execute(
            "select subject, outcome from zdm.audit_log where action = 'rollout.flag_on' order by subject"
        ).fetchall()
    assert outcomes == [("demo_icupa", "ok"), ("ga_gone", "failed")]
    assert "- **Failed:** ga_gone:" in config.rollback_log_path.read_text()
