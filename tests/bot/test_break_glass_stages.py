"""Break-glass on a schema deploy and a cleanup plan, through signed Slack requests: each passes its gate once a
platform lead confirms it; their two approvals are still needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.breakglass.views import CONFIRM_ACTION
from commands.cleanup.views import APPROVE_ACTION as CLEANUP_APPROVE
from commands.config import RunbookConfig
from commands.schema.views import APPROVE_ACTION as SCHEMA_APPROVE
from tests.bot.conftest import card_text
from tests.bot.test_break_glass import LEAD, audit, glass_card, press
from tests.conftest import BotServer, Databases, write_config

DBA, DBA2 = "U0DBA", "U0DBA2"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    roles = f'dba = ["{DBA}", "{DBA2}"]\nplatform_lead = ["{LEAD}"]'
    extra = """
[schema]
bootstrap_seed = false

[releases.profiles]
migrations = ["20250301000000_*"]
cleanup = "supabase/cleanup/20250401000000_drop_legacy_tenant_columns.sql"
"""
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra, roles=roles)


def test_a_schema_deploy_past_a_broken_rollback_path_still_needs_its_two_approvals(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    (app_root / "supabase" / "migrations" / "20260101000000_tenant_timezone.sql").write_text(
        "alter table public.tenants add column if not exists timezone text;\n"
    )
    with dbs.target() as conn:
        conn.execute("drop function public.sp_restore_legacy_tenant_views()")
    said = bot.command('schema deploy preview --break-glass "restore fn moved to 2026 migration"', user=DBA)
    assert said.json()["text"].startswith("Break-glass #1 asked")
    bot.settle()
    text = card_text(glass_card(bot))
    assert "request a schema deploy of `20260101000000_tenant_timezone.sql` to `preview`" in text
    assert "• rollback readiness — the rollback path is broken: restore function" in text
    assert not [m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*Schema deploy #1 ")]

    assert press(bot, glass_card(bot), CONFIRM_ACTION, DBA).startswith("You asked for break-glass #1")
    told = press(bot, glass_card(bot), CONFIRM_ACTION, LEAD)
    assert told.startswith("Confirmed break-glass #1: Schema deploy #1 to `preview` awaits one `dba` and one")
    [deploy] = [m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*Schema deploy #1 ")]
    assert "🔓 break-glass: restore fn moved to 2026 migration (confirmed by U0LEAD)" in card_text(deploy)
    assert press(bot, deploy, SCHEMA_APPROVE, DBA2).startswith("Approved as `dba`")
    assert press(bot, deploy, SCHEMA_APPROVE, LEAD) == "Schema deploy #1 to `preview` applied: `20260101000000`."
    [(_, outcome, detail)] = audit(dbs, "breakglass.used")
    assert outcome == "ok" and detail["what"].startswith("request a schema deploy")


def test_a_cleanup_before_its_stable_days_is_requested_once_a_lead_confirms(bot: BotServer, dbs: Databases) -> None:
    said = bot.command('cleanup plan profiles --break-glass "legacy views leak PII, must drop now"', user=DBA)
    assert said.json()["text"].startswith("Break-glass #1 asked")
    bot.settle()
    text = card_text(glass_card(bot))
    assert "request the destructive cleanup of `profiles`" in text
    assert "• 7 stable days — 304 of 306 tenants are still on the legacy path" in text
    assert "the rollout of `tenant.enableNewProfile` has not been started" in text
    assert not [m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*Cleanup plan for")]

    told = press(bot, glass_card(bot), CONFIRM_ACTION, LEAD)
    assert told.startswith("Confirmed break-glass #1: Cleanup of `profiles` passes its gate by break-glass; cleanup #1")
    [card] = [m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*Cleanup plan for")]
    assert "🔓 not allowed yet, requested by break-glass" in card_text(card)
    assert "🔓 break-glass: legacy views leak PII, must drop now (confirmed by U0LEAD)" in card_text(card)
    assert press(bot, card, CLEANUP_APPROVE, DBA2).startswith("Approved as `dba`")
    assert press(bot, card, CLEANUP_APPROVE, LEAD).startswith("Cleanup #1 of `profiles` is approved")
