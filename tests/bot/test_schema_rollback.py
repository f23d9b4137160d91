"""`--schema VERSION`: the paired *_rollback.sql after a confirm button; stale and repeated clicks."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from commands.rollback.views import CANCEL_ACTION, CONFIRM_ACTION
from tests.conftest import ONCALL, STRANGER, BotServer, Databases

VERSION = "20250301000000"


def click(bot: BotServer, action: str, message: Any, *, user: str = ONCALL) -> httpx.Response:
    return bot.click(message, action, user=user)


def responses(bot: BotServer) -> list[str]:
    return bot.responses()


def table_exists(dbs: Databases, name: str) -> bool:
    with dbs.target() as conn:
        return bool(conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0])


def test_schema_rollback_waits_for_confirm_then_applies_in_one_transaction(bot: BotServer, dbs: Databases) -> None:
    bot.command(f"rollback tenant pilot_a --schema {VERSION} bad migration")
    bot.settle()
    [message] = bot.slack.in_channel("#release")
    assert "waiting for schema confirmation" in message.blocks[0]["text"]["text"]
    assert table_exists(dbs, "public.tenant_profiles")  # nothing applied before the click
    confirm = next(e for b in message.blocks if b["type"] == "actions" for e in b["elements"])
    assert confirm["confirm"]["title"]["text"] == "Apply schema rollback?"

    card_as_shown = copy.deepcopy(message)
    assert click(bot, CONFIRM_ACTION, message).status_code == 200
    bot.settle()
    assert not table_exists(dbs, "public.tenant_profiles")
    with dbs.target() as conn:
        versions = {r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")}
    assert VERSION not in versions
    assert "Rolled back `pilot_a`" in message.blocks[0]["text"]["text"]

    # a second click on the same (now stale) card changes nothing and says so
    click(bot, CONFIRM_ACTION, card_as_shown)
    bot.settle()
    assert responses(bot)[-1].startswith("This prompt is stale")
    with dbs.state() as conn:
        assert (
            conn.execute("select count(*) from zdm.audit_log where action = 'rollback.schema_rollback'").fetchone()[0]
            == 1
        )


def test_skip_keeps_schema_and_someone_outside_oncall_cannot_decide(bot: BotServer, dbs: Databases) -> None:
    bot.command(f"rollback tenant pilot_a --schema {VERSION}")
    bot.settle()
    [message] = bot.slack.in_channel("#release")
    click(bot, CONFIRM_ACTION, message, user=STRANGER)
    bot.settle()
    assert responses(bot)[-1].startswith("Only members of `oncall` may confirm schema rollbacks")
    assert table_exists(dbs, "public.tenant_profiles")

    click(bot, CANCEL_ACTION, message)
    bot.settle()
    assert table_exists(dbs, "public.tenant_profiles")
    assert "skipped by <@U0ONCALL>" in message.blocks[1]["text"]["text"]
    with dbs.state() as conn:
        assert conn.execute("select finished_at is not null from zdm.rollbacks").fetchone()[0]


def test_missing_rollback_pair_is_refused_before_anything_runs(bot: BotServer, dbs: Databases) -> None:
    text = bot.command("rollback tenant pilot_a --schema 20250101000000").json()["text"]
    assert text.startswith("No `20250101000000_*_rollback.sql` file in `supabase/rollbacks` or `supabase/migrations`")
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.rollbacks").fetchone()[0] == 0
