"""`/zdm rollback tenant` end to end: signed HTTP request → Bolt → services → real Postgres → Slack emulator."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bot.local.emulator import Message
from bot.signing import sign, slash_command_body
from commands.backfill.args import BACKFILL_ARGS
from commands.config import RunbookConfig
from commands.rollback.args import ROLLBACK_ARGS
from commands.rollout.args import ROLLOUT_ARGS
from commands.schema.args import SCHEMA_ARGS
from tests.conftest import GROUP_MEMBER, ONCALL, SECRET, STRANGER, BotServer, Databases

FLAG = "tenant.enableNewProfile"


def flag_enabled(dbs: Databases, tenant: str) -> bool | None:
    with dbs.target() as conn:
        row = conn.execute(
            "select enabled from public.feature_flags where tenant_slug = %s and flag = %s", (tenant, FLAG)
        ).fetchone()
    return None if row is None else bool(row[0])


def rollback_rows(dbs: Databases) -> list[tuple[object, ...]]:
    with dbs.state() as conn:
        return conn.execute("select id, tenant, requested_by, finished_at from zdm.rollbacks order by id").fetchall()


def audit_actions(dbs: Databases) -> list[str]:
    with dbs.state() as conn:
        return [r[0] for r in conn.execute("select action from zdm.audit_log order by id")]


def release_messages(bot: BotServer) -> list[Message]:
    return bot.slack.in_channel("#release")


def test_full_rollback_turns_flag_off_restores_views_runs_smoke_logs_and_posts(
    bot: BotServer, dbs: Databases, config: RunbookConfig
) -> None:
    assert flag_enabled(dbs, "pilot_a") is True
    with dbs.target() as conn:  # the new read path is live: the view has the `source` column
        assert "tenant_profiles" in conn.execute("select pg_get_viewdef('public.tenant_directory')").fetchone()[0]

    response = bot.command('rollback tenant pilot_a "checkout errors"')
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert re.match(r"Rolling back `pilot_a` \(rollback #\d+\); progress in #release\.", ack["text"])
    bot.settle()

    assert flag_enabled(dbs, "pilot_a") is False
    with dbs.target() as conn:
        viewdef = conn.execute("select pg_get_viewdef('public.tenant_directory')").fetchone()[0]
        restored = conn.execute(
            "select count(*) from public.tenant_migration_audit where event = 'legacy_views_restored'"
        ).fetchone()[0]
    assert "tenant_profiles" not in viewdef and restored == 1

    [row] = rollback_rows(dbs)
    assert row[1] == "pilot_a" and row[2] == ONCALL and row[3] is not None

    log_text = config.rollback_log_path.read_text()
    assert "rollback of tenant `pilot_a`" in log_text
    assert "- **Reason:** checkout errors" in log_text
    assert "- **Smoke tests:** passed" in log_text
    assert "tenancy smoke: 2 ok, 0 failing" in log_text  # the smoke script really ran
    assert "- **Remediation tasks:**" in log_text

    [message] = release_messages(bot)
    assert message.updates >= 4  # posted once, then updated in place as steps finished
    assert "Rolled back `pilot_a`" in message.blocks[0]["text"]["text"]
    assert "Rolling back `pilot_a`" in message.history[0]

    actions = audit_actions(dbs)
    for expected in (
        "rollback.requested",
        "rollback.flag_off",
        "rollback.restore_views",
        "rollback.smoke_tests",
        "rollback.rollback_log",
        "rollback.finished",
    ):
        assert expected in actions


def test_slack_retry_of_the_same_request_rolls_back_once(bot: BotServer, dbs: Databases) -> None:
    body = slash_command_body(
        text="rollback tenant pilot_b retry test", user_id=ONCALL, response_url=bot.slack.response_url("x")
    )
    first = bot.post(sign(SECRET, body))
    retry1 = bot.post(sign(SECRET, body, retry_num=1))
    retry2 = bot.post(sign(SECRET, body, retry_num=2))
    bot.settle()
    assert first.status_code == retry1.status_code == retry2.status_code == 200
    assert "Rolling back" in first.json()["text"]
    assert retry1.content == b"" and retry2.content == b""
    assert len(rollback_rows(dbs)) == 1
    assert len(release_messages(bot)) == 1
    with dbs.state() as conn:
        assert conn.execute("select retries from zdm.slack_requests").fetchone()[0] == 2


def test_forged_missing_and_stale_signatures_are_rejected_and_nothing_runs(bot: BotServer, dbs: Databases) -> None:
    body = slash_command_body(text="rollback tenant pilot_a", user_id=ONCALL, response_url=bot.slack.response_url("x"))
    forged = sign("not-the-secret", body)
    missing = sign(SECRET, body)
    missing.headers.pop("x-slack-signature")
    stale = sign(SECRET, body, timestamp=int(time.time()) - 6 * 60)
    tampered = sign(SECRET, body)
    tampered = type(tampered)(body.replace("pilot_a", "pilot_b"), tampered.headers)
    for request in (forged, missing, stale, tampered):
        assert bot.post(request).status_code == 401
    bot.settle()
    assert flag_enabled(dbs, "pilot_a") is True
    assert rollback_rows(dbs) == []
    assert bot.slack.messages == []
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.slack_requests").fetchone()[0] == 0


def test_someone_outside_oncall_is_refused_plainly_and_audited(bot: BotServer, dbs: Databases) -> None:
    response = bot.command("rollback tenant pilot_a", user=STRANGER)
    bot.settle()
    assert response.json()["text"].startswith("Only members of `oncall` may run `/zdm rollback tenant`")
    assert flag_enabled(dbs, "pilot_a") is True
    assert rollback_rows(dbs) == []
    with dbs.state() as conn:  # refused by the permissions table, before the rollback stage is asked
        refused = conn.execute("select actor, outcome from zdm.audit_log where action = 'command.refused'").fetchall()
    assert refused == [(STRANGER, "refused")]


def test_member_of_an_oncall_user_group_may_roll_back(bot: BotServer, dbs: Databases) -> None:
    response = bot.command("rollback tenant pilot_a group member", user=GROUP_MEMBER)
    bot.settle()
    assert "Rolling back `pilot_a`" in response.json()["text"]
    assert flag_enabled(dbs, "pilot_a") is False
    assert ("usergroups.users.list", {"usergroup": "S0ONCALL"}) in bot.slack.calls


def test_unknown_tenant_gets_one_clear_sentence(bot: BotServer, dbs: Databases) -> None:
    response = bot.command("rollback tenant acme")
    assert response.json()["text"] == "Tenant `acme` not found. Try `/zdm tenants acm*` to search by prefix."
    assert rollback_rows(dbs) == []


def test_injection_attempt_in_slug_is_refused_and_harmless(bot: BotServer, dbs: Databases) -> None:
    for attempt in ("pilot_a';drop table tenants;--", "Pilot_A", "pilot_a%", "../../etc/passwd"):
        response = bot.command(f"rollback tenant {attempt}")
        assert "is not a valid tenant slug" in response.json()["text"]
    with dbs.target() as conn:
        assert conn.execute("select count(*) from public.tenants").fetchone()[0] == 306
    assert rollback_rows(dbs) == []


def test_usage_errors_and_unknown_commands(bot: BotServer) -> None:
    assert bot.command("rollback pilot_a").json()["text"].startswith("Use `/zdm rollback tenant <slug>")
    assert bot.command("frobnicate").json()["text"] == (
        "`/zdm frobnicate` is not a zdm command. Type `/zdm help` to see them all."
    )
    assert "--schema` needs a migration version" in bot.command("rollback tenant pilot_a --schema x").json()["text"]


def test_help_lists_commands_from_their_docstrings(bot: BotServer) -> None:
    answer = bot.command("help").json()
    text = answer["text"]
    assert "`/zdm rollback tenant <slug> [--schema VERSION] [reason…] | cancel <id>`" in text
    for grammar in (ROLLOUT_ARGS, BACKFILL_ARGS, ROLLBACK_ARGS, SCHEMA_ARGS):  # the listeners register these
        assert f"`/zdm {grammar.command} {grammar.usage}`" in text, grammar.command
    assert "turn its flag off, restore the legacy views" in text
    assert "`/zdm tenants <pattern>`" in text
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section" and "text" in b]
    assert len(sections) > 2 and all(len(t) <= 3000 for t in sections)  # more than one section's worth of help
    shown = "\n".join(sections)
    for name in ("alerts", "archive", "backfill", "checklist", "cleanup", "notes", "rollback", "rollout", "schema"):
        assert f"`/zdm {name}" in shown, name
    assert "`/zdm tenants <pattern>`" in shown and "…" not in shown[-5:]


def test_failing_smoke_test_is_reported_and_the_flag_stays_off(
    bot: BotServer, dbs: Databases, config: RunbookConfig, app_root: Path
) -> None:
    (app_root / "scripts" / "smoke_tenancy.py").write_text("import sys\nprint('checkout e2e: FAILED')\nsys.exit(3)\n")
    bot.command("rollback tenant pilot_a smoke failing")
    bot.settle()
    assert flag_enabled(dbs, "pilot_a") is False
    message, failure = release_messages(bot)
    text = "\n".join(b.get("text", {}).get("text", "") for b in message.blocks if b["type"] == "section")
    assert "Rollback finished with failures" in text
    assert failure.text == "❌ Smoke tests after the rollback of `pilot_a` failed"
    assert "failed with exit code 3" in str(failure.blocks)
    assert "❌ *Smoke tests* — failed with exit code 3" in text
    assert "checkout e2e: FAILED" in text
    log_text = config.rollback_log_path.read_text()
    assert "- **Smoke tests:** FAILED" in log_text and "checkout e2e: FAILED" in log_text


def test_a_second_rollback_of_the_same_tenant_is_refused_while_one_is_open(bot: BotServer, dbs: Databases) -> None:
    bot.command("rollback tenant pilot_a --schema 20250301000000 first")
    bot.settle()  # waits for the schema decision: still open
    second = bot.command("rollback tenant pilot_a again").json()["text"]
    assert second.startswith("A rollback of `pilot_a` is already in progress (#")
    assert len(rollback_rows(dbs)) == 1


def test_rolling_back_a_tenant_whose_flag_is_already_off_says_so(bot: BotServer, dbs: Databases) -> None:
    assert flag_enabled(dbs, "pilot_c") is None  # never enabled
    bot.command("rollback tenant pilot_c")
    bot.settle()
    [message] = release_messages(bot)
    assert "`tenant.enableNewProfile` was already off for `pilot_c`" in message.blocks[1]["text"]["text"]
    assert flag_enabled(dbs, "pilot_c") is False
