"""`--schema VERSION` (issue 14, case 8): the paired *_rollback.sql is a whole-flag decision taken by a second
person — the card states the blast radius, the requester cannot apply it, the file is pinned between request and
confirm, and while other tenants have the flag on the only way to apply is to turn it off for all of them first."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.local.emulator import Message
from commands.config import RunbookConfig
from commands.rollback.views import ALL_OFF_ACTION, CANCEL_ACTION, CONFIRM_ACTION
from tests.conftest import APPROVER, APPROVER2, ONCALL, STRANGER, BotServer, Databases, write_config

VERSION = "20250301000000"
FLAG = "tenant.enableNewProfile"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    # the requester (on-call) is a dba too: being one is not enough to confirm one's own request
    return write_config(
        tmp_path / "zdm.toml", app_root, roles=f'dba = ["{ONCALL}", "{APPROVER}"]\nplatform_lead = ["{APPROVER2}"]'
    )


def click(bot: BotServer, action: str, message: Any, *, user: str = ONCALL) -> httpx.Response:
    return bot.click(message, action, user=user)


def responses(bot: BotServer) -> list[str]:
    return bot.responses()


def table_exists(dbs: Databases, name: str) -> bool:
    with dbs.target() as conn:
        return bool(conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0])


def set_flag(dbs: Databases, tenant: str, *, on: bool) -> None:
    with dbs.target() as conn:
        conn.execute(
            "update public.feature_flags set enabled = %s where tenant_slug = %s and flag = %s", (on, tenant, FLAG)
        )


def flags_on(dbs: Databases) -> set[str]:
    with dbs.target() as conn:
        rows = conn.execute("select tenant_slug from public.feature_flags where flag = %s and enabled", (FLAG,))
        return {r[0] for r in rows}


def actions_of(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def card_text(message: Message) -> str:
    return str(message.blocks)


def requested(bot: BotServer, text: str = f"rollback tenant pilot_a --schema {VERSION} bad migration") -> Message:
    bot.command(text)
    bot.settle()
    [message] = bot.slack.in_channel("#release")
    assert "waiting for schema confirmation" in message.blocks[0]["text"]["text"]
    return message


def test_a_second_person_turns_the_flag_off_for_every_tenant_then_applies(bot: BotServer, dbs: Databases) -> None:
    assert flags_on(dbs) == {"pilot_a", "pilot_b"}
    message = requested(bot)
    assert flags_on(dbs) == {"pilot_b"} and table_exists(dbs, "public.tenant_profiles")  # nothing applied yet
    assert "changes the schema for every tenant" in card_text(message)
    assert "*1* other tenant(s) have `tenant.enableNewProfile` on now" in card_text(message)  # the blast radius
    assert actions_of(message) == [ALL_OFF_ACTION, CANCEL_ACTION]  # no plain apply that would break pilot_b
    [button] = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"][:1]]
    assert button["text"]["text"] == "Turn the flag off for all 1 tenants, then apply"
    assert button["confirm"]["title"]["text"] == "Apply schema rollback?"

    click(bot, ALL_OFF_ACTION, message)  # the requester, although a dba
    bot.settle()
    assert responses(bot)[-1].startswith("You requested rollback #1, so you cannot apply its schema rollback")
    click(bot, ALL_OFF_ACTION, message, user=STRANGER)
    bot.settle()
    assert responses(bot)[-1].startswith("Only members of `dba` or `platform_lead` may apply schema rollbacks")
    assert table_exists(dbs, "public.tenant_profiles") and flags_on(dbs) == {"pilot_b"}

    card_as_shown = copy.deepcopy(message)
    click(bot, ALL_OFF_ACTION, message, user=APPROVER)
    bot.settle()
    assert flags_on(dbs) == set()
    assert not table_exists(dbs, "public.tenant_profiles")
    with dbs.target() as conn:
        versions = {r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")}
    assert VERSION not in versions
    assert "Rolled back `pilot_a`" in message.blocks[0]["text"]["text"]
    assert "turned `tenant.enableNewProfile` off for 1 other tenant(s), then applied" in card_text(message)
    with dbs.state() as conn:
        audit = conn.execute(
            "select action, actor, subject from zdm.audit_log where action in"
            " ('rollback.schema_rollback', 'rollback.flag_off_all') order by id"
        ).fetchall()
    assert audit == [("rollback.flag_off_all", APPROVER, "pilot_b"), ("rollback.schema_rollback", APPROVER, "pilot_a")]

    click(bot, ALL_OFF_ACTION, card_as_shown, user=APPROVER2)  # a second approver on the stale card
    bot.settle()
    assert responses(bot)[-1].startswith("This prompt is stale")


def test_plain_apply_is_offered_only_while_no_other_tenant_is_on_and_rechecked_on_click(
    bot: BotServer, dbs: Databases
) -> None:
    set_flag(dbs, "pilot_b", on=False)
    message = requested(bot)
    assert "*0* other tenant(s)" in card_text(message)
    assert actions_of(message) == [CONFIRM_ACTION, CANCEL_ACTION]
    card_as_shown = copy.deepcopy(message)

    set_flag(dbs, "pilot_b", on=True)  # a flip reached pilot_b after the card was drawn
    click(bot, CONFIRM_ACTION, card_as_shown, user=APPROVER2)
    bot.settle()
    assert responses(bot)[-1].startswith("1 other tenant(s) have `tenant.enableNewProfile` on now")
    assert table_exists(dbs, "public.tenant_profiles") and flags_on(dbs) == {"pilot_b"}
    assert actions_of(message) == [ALL_OFF_ACTION, CANCEL_ACTION]  # the card was redrawn with the blast radius


def test_a_rollback_file_changed_between_request_and_confirm_voids_the_confirmation(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    message = requested(bot)
    rollback_file = app_root / "supabase" / "rollbacks" / f"{VERSION}_tenant_profiles_rollback.sql"
    rollback_file.write_text("drop table public.tenants cascade;\n", encoding="utf-8")
    click(bot, ALL_OFF_ACTION, message, user=APPROVER)
    bot.settle()
    assert responses(bot)[-1] == (
        f"`{VERSION}_tenant_profiles_rollback.sql` changed since rollback #1 was requested, so this confirmation is "
        "void and nothing was applied; review the new file and request a new schema rollback."
    )
    assert table_exists(dbs, "public.tenants") and table_exists(dbs, "public.tenant_profiles")
    assert flags_on(dbs) == {"pilot_b"}  # nothing of the decision happened
    assert "void: " in card_text(message) and "Rollback finished with failures" in message.blocks[0]["text"]["text"]


def test_skip_keeps_schema_and_someone_outside_oncall_cannot_decide(bot: BotServer, dbs: Databases) -> None:
    message = requested(bot, f"rollback tenant pilot_a --schema {VERSION}")
    click(bot, CANCEL_ACTION, message, user=STRANGER)
    bot.settle()
    assert responses(bot)[-1].startswith("Only members of `oncall` or `dba` or `platform_lead` may skip")
    assert table_exists(dbs, "public.tenant_profiles")

    click(bot, CANCEL_ACTION, message)  # skipping is safe: the requester may
    bot.settle()
    assert table_exists(dbs, "public.tenant_profiles")
    assert "skipped by <@U0ONCALL>" in card_text(message)
    with dbs.state() as conn:
        assert conn.execute("select finished_at is not null from zdm.rollbacks").fetchone()[0]


def test_missing_rollback_pair_is_refused_before_anything_runs(bot: BotServer, dbs: Databases) -> None:
    text = bot.command("rollback tenant pilot_a --schema 20250101000000").json()["text"]
    assert text.startswith("No `20250101000000_*_rollback.sql` file in `supabase/rollbacks` or `supabase/migrations`")
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.rollbacks").fetchone()[0] == 0
