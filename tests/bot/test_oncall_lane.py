"""The on-call lane through signed requests: heavy work (schema plans) waits in line a few at a time, and a
rollback finishes while every heavy worker is stuck."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.local.emulator import Message
from commands.config import RunbookConfig
from tests.bot.conftest import card_text
from tests.conftest import BotServer, Databases, write_config

DBA1, DBA2 = "U0DBAONE", "U0DBATWO"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    extra = "[schema]\nbootstrap_seed = false\n"
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra, roles=f'dba = ["{DBA1}", "{DBA2}"]')


def plan_cards(bot: BotServer) -> list[Message]:
    return [m for m in bot.slack.in_channel("#release") if "preview" in card_text(m) and "Rolled" not in card_text(m)]


def test_a_rollback_finishes_while_schema_plans_hold_every_heavy_worker(bot: BotServer, dbs: Databases) -> None:
    with dbs.target() as blocker:
        # every plan reads the migration history first: holding its table keeps all heavy workers busy
        blocker.execute("begin")
        blocker.execute("lock table supabase_migrations.schema_migrations in access exclusive mode")
        acks = [bot.command("schema plan preview", user=user).json()["text"] for user in (DBA1, DBA2, DBA1, DBA2)]
        assert [a.startswith("Planning `preview`") for a in acks] == [True] * 4
        assert [a.endswith("position 1 in line for heavy work.") for a in acks] == [False, False, True, False]
        assert acks[3].endswith("Queued: position 2 in line for heavy work.")
        assert bot.command("schema plan preview", user=DBA1).json()["text"].startswith("You already have 2 heavy jobs")

        rollback = bot.command("rollback tenant pilot_a under load")  # by a direct `oncall` member
        assert "Rolling back `pilot_a`" in rollback.json()["text"]
        bot.slack.wait_for(
            lambda _: any("Rolled back `pilot_a`" in card_text(m) for m in bot.slack.in_channel("#release"))
        )
        with dbs.target() as conn:
            flag = conn.execute("select enabled from public.feature_flags where tenant_slug = 'pilot_a'").fetchone()
        assert flag == (False,)
        assert plan_cards(bot) == []  # the plans are all still waiting
        blocker.execute("rollback")

    bot.settle()
    assert len(plan_cards(bot)) == 4
    assert bot.command("schema plan preview", user=DBA1).json()["text"] == (
        "Planning `preview`: lint, clean bootstrap from zero, pending vs applied. The card follows in "
        "the release channel."
    )  # the line is empty again
    bot.settle()
