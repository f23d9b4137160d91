"""`/zdm cleanup plan <release>` through real Bolt requests: the 7-day gate on real KPI rows and rollback records,
with the fake clock, and the dba + platform_lead approval."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from bot.local.emulator import Message
from commands.adapters.rollout_pg import to_doc
from commands.cleanup.views import APPROVE_ACTION
from commands.config import RunbookConfig
from commands.rollout.config import plan_digest
from commands.rollout.model import Rollout, RolloutStatus, StepState, StepStatus
from tests.bot.conftest import FLAG, card_text
from tests.conftest import ONCALL, STRANGER, BotServer, Databases, write_config
from tests.fakes import FakeClock

DBA, LEAD = "U0DBA", "U0LEAD"
TENANTS = ("demo_icupa", "pilot_a", "pilot_b")
DAY = timedelta(days=1)


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    extra = """
[releases.profiles]
migrations = ["20250301000000_*"]
cleanup = "supabase/cleanup/20250401000000_drop_legacy_tenant_columns.sql"
"""
    roles = f'dba = ["{DBA}", "{ONCALL}"]\nplatform_lead = ["{LEAD}"]'  # the requester needs a cleanup role
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra, roles=roles)


def finished_rollout(dbs: Databases, config: RunbookConfig, reached: datetime) -> None:
    """A rollout that enabled every tenant, finished at ``reached`` (as the rollout stage stores it)."""
    plan = config.rollout.plans["runbook"]
    skipped = tuple(StepState(StepStatus.SKIPPED) for _ in plan[1:])
    steps = (StepState(StepStatus.DONE, enabled=TENANTS, flipped_at=reached), *skipped)
    rollout = Rollout(id=0, flag=FLAG, plan_name="runbook", plan=plan, gates=config.rollout.gates,
                      digest=plan_digest(plan, config.rollout.gates), started_by=ONCALL, started_at=reached - 3 * DAY,
                      status=RolloutStatus.DONE, current=len(plan), steps=steps, finished_at=reached)  # fmt: skip
    with dbs.state() as conn:
        conn.execute(
            "insert into zdm.rollouts (flag, status, started_at, doc) values (%s, 'done', %s, %s)",
            (FLAG, rollout.started_at, Jsonb(to_doc(rollout))),
        )
    with dbs.target() as conn:  # every tenant on the new path (the gate checks the flag, not the rollout record)
        conn.execute(
            "insert into public.feature_flags (tenant_slug, flag, enabled, updated_by) select slug, %s, true, 'test'"
            " from public.tenants on conflict (tenant_slug, flag) do update set enabled = true",
            (FLAG,),
        )


def traffic(dbs: Databases, reached: datetime, days: int, *, errors_on: int | None = None) -> None:
    """200 requests per day per window; on day ``errors_on`` 10 % of them fail."""
    with dbs.target() as conn:
        for day in range(days):
            at = reached + DAY * day + timedelta(hours=2)
            failing = 20 if day + 1 == errors_on else 0
            conn.execute(
                "insert into public.request_metrics (tenant_slug, at, status, latency_ms)"
                " select (%s::text[])[1 + i %% 3], %s, case when i < %s then 500 else 200 end, 90"
                " from generate_series(0, 199) as i",
                (list(TENANTS), at, failing),
            )


def plan(bot: BotServer, *, user: str = ONCALL) -> Message:
    assert bot.command("cleanup plan profiles", user=user).json()["text"].startswith("Checking the 7 stable days")
    bot.settle()
    return [m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*Cleanup plan for")][-1]


def press(bot: BotServer, card: Message, user: str) -> str:
    bot.click(card, APPROVE_ACTION, user=user)
    bot.settle()
    return bot.responses()[-1]


def test_day_six_refuses_with_the_date_and_a_clean_day_seven_is_approved_by_two_roles(
    bot: BotServer, dbs: Databases, config: RunbookConfig, clock: FakeClock
) -> None:
    reached = clock.now() - 6 * DAY
    finished_rollout(dbs, config, reached)
    traffic(dbs, reached, 7)
    text = card_text(plan(bot))
    earliest = f"{reached + 7 * DAY:%Y-%m-%d %H:%M} UTC"
    assert "⛔ not allowed yet" in text and f"*Earliest cleanup date:* {earliest}" in text
    assert text.count("✅ Day ") == 6 and "error rate 0.00 %" in text and "(200 requests)" in text
    assert bot.responses()[-1].endswith(f"the earliest cleanup date is {earliest}.")
    assert "20250401000000_drop_legacy_tenant_columns_rollback.sql" in text

    clock.advance(DAY)
    card = plan(bot)
    assert "✅ allowed, awaiting approval" in card_text(card) and card_text(card).count("✅ Day ") == 7
    assert (
        bot.responses()[-1] == "Cleanup of `profiles` is allowed; cleanup #1 awaits one `dba` and one `platform_lead`."
    )
    assert press(bot, card, ONCALL).startswith("You requested cleanup #1, so you cannot approve it")
    assert press(bot, card, STRANGER).startswith("Cleanup #1 still needs approval from `dba` or `platform_lead`")
    assert press(bot, card, DBA) == "Approved as `dba`; cleanup #1 still needs the other approval."
    assert press(bot, card, DBA).startswith("You already approved cleanup #1")
    assert press(bot, card, LEAD).startswith("Cleanup #1 of `profiles` is approved")
    final = next(m for m in bot.slack.in_channel("#release") if m.ts == card.ts)
    assert "✅ approved" in card_text(final) and f"<@{DBA}>" in card_text(final) and f"<@{LEAD}>" in card_text(final)
    with dbs.state() as conn:
        assert conn.execute("select status from zdm.cleanups").fetchall() == [("approved",)]


def test_day_seven_with_a_breach_on_day_three_refuses(
    bot: BotServer, dbs: Databases, config: RunbookConfig, clock: FakeClock
) -> None:
    reached = clock.now() - 7 * DAY
    finished_rollout(dbs, config, reached)
    traffic(dbs, reached, 7, errors_on=3)
    text = card_text(plan(bot))
    assert "⛔ not allowed yet" in text and "❌ Day 3 " in text and "error rate 10.00 %" in text
    assert f"*Earliest cleanup date:* {reached + 10 * DAY:%Y-%m-%d %H:%M} UTC" in text
    assert bot.responses()[-1].startswith("Cleanup of `profiles` is not allowed yet: day 3 (")


def test_a_rollback_or_a_missing_pair_refuses(
    bot: BotServer, dbs: Databases, config: RunbookConfig, clock: FakeClock, app_root: Path
) -> None:
    reached = clock.now() - 8 * DAY
    finished_rollout(dbs, config, reached)
    traffic(dbs, reached, 8)
    assert bot.command("rollback tenant pilot_a checkout errors").status_code == 200
    bot.settle()
    text = card_text(plan(bot))
    assert "⛔ not allowed yet" in text  # the rolled-back tenant still reads what the cleanup drops
    assert "1 of 306 tenants are still on the legacy path (`pilot_a` (held out after rollback #1))" in text
    pair = app_root / "supabase/cleanup/20250401000000_drop_legacy_tenant_columns_rollback.sql"
    kept = pair.read_text()
    pair.unlink()
    assert "has no `20250401000000_drop_legacy_tenant_columns_rollback.sql` pair" in card_text(plan(bot))
    (app_root / "supabase/rollbacks" / pair.name).write_text(kept)  # the pair in app.rollbacks_dir counts too
    text = card_text(plan(bot))
    assert f"with its pair `{pair.name}`" in text and "has no `" not in text


def test_a_cleanup_awaiting_approval_is_posted_again_after_a_restart_and_can_be_approved(
    bot: BotServer, dbs: Databases, config: RunbookConfig, clock: FakeClock, tmp_path: Path
) -> None:
    from tests.bot.test_restart_cards import restarted

    reached = clock.now() - 7 * DAY
    finished_rollout(dbs, config, reached)
    traffic(dbs, reached, 7)
    assert "✅ allowed, awaiting approval" in card_text(plan(bot))
    with restarted(dbs, config, tmp_path, clock) as (_container, bot2):
        [card] = [m for m in bot2.slack.in_channel("#release") if card_text(m).startswith("*Cleanup plan for")]
        assert press(bot2, card, DBA) == "Approved as `dba`; cleanup #1 still needs the other approval."
        assert press(bot2, card, LEAD).startswith("Cleanup #1 of `profiles` is approved")
