"""Crash windows and broken configuration: an interrupted flip is finished once, a failing step backs off and says
so once, and nothing is skipped or repeated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from commands.config import RunbookConfig
from tests.bot.conftest import Cadence, approve, card_text, enabled, prompt_for, step_prompts, thread_messages
from tests.conftest import APPROVER, BotServer, Databases, write_config

BROKEN_PLAN = """
[rollout]
default_plan = "broken"

[[rollout.plans.broken]]
name = "demo tenant"
at = "0h"
slugs = ["demo_icupa"]

[[rollout.plans.broken]]
name = "typo"
at = "1h"
sql = "select slug from public.tenant_typo"
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=BROKEN_PLAN)


def flag_writes(dbs: Databases, *, fail: bool) -> None:
    with dbs.target() as conn:
        if fail:
            conn.execute(
                "create function public.refuse_flag_writes() returns trigger language plpgsql as "
                "$$ begin raise exception 'flag store down'; end $$"
            )
            conn.execute(
                "create trigger refuse_flag_writes before insert or update on public.feature_flags"
                " for each statement execute function public.refuse_flag_writes()"
            )
        else:
            conn.execute("drop trigger refuse_flag_writes on public.feature_flags")


def test_a_flip_interrupted_midway_is_finished_once_by_the_next_tick(
    bot: BotServer, cadence: Cadence, dbs: Databases, config: RunbookConfig
) -> None:
    bot.command("rollout start")
    bot.settle()
    flag_writes(dbs, fail=True)  # the flag store fails during the flip (it still answers reads: rollback readiness)
    approve(bot, 1, APPROVER)
    assert "zdm hit an internal error (ref" in bot.responses()[-1]
    with dbs.state() as conn:
        state = conn.execute("select doc->'steps'->0->>'status' from zdm.rollouts").fetchone()[0]
    assert state == "flipping"  # claimed, so nobody flips it a second time

    flag_writes(dbs, fail=False)
    cadence.at(timedelta(minutes=1))
    assert "demo_icupa" in enabled(dbs)
    assert "✅ Enabled for 1 tenants by <@U0APPROVER>" in card_text(prompt_for(bot.slack, 1))
    cadence.at(timedelta(minutes=3))
    with dbs.state() as conn:
        flips = conn.execute("select count(*) from zdm.audit_log where action = 'rollout.flag_on'").fetchone()[0]
    assert flips == 1 and config.rollback_log_path.read_text().count("rollout #1 step 1") == 1


def test_a_step_that_keeps_failing_backs_off_and_says_so_once(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)
    cadence.at(timedelta(hours=1))
    warnings = [m for m in thread_messages(bot.slack) if "could not advance rollout #1" in card_text(m)]
    assert len(warnings) == 1 and "UndefinedTable" in card_text(warnings[0])
    with dbs.state() as conn:
        wake = conn.execute("select wake_at from zdm.rollouts").fetchone()[0]
    assert wake == cadence.clock.now() + timedelta(minutes=5)  # backs off instead of retrying every tick
    for minutes in (61, 62, 66, 71):
        cadence.at(timedelta(minutes=minutes))
    assert len([m for m in thread_messages(bot.slack) if "could not advance" in card_text(m)]) == 1
    assert not step_prompts(bot.slack, 2)
