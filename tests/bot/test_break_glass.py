"""Break-glass through signed Slack requests: a gate passes only once a second person with the role confirms it
on its card; the one who asked never confirms their own; the use is announced, audited and in the release notes."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Container
from bot.local.emulator import Message
from commands.breakglass.views import CANCEL_ACTION, CONFIRM_ACTION
from commands.config import RunbookConfig
from commands.rollout.views import APPROVE_ACTION
from tests.bot.conftest import Cadence, card_text, enabled, prompt_for
from tests.conftest import APPROVER, APPROVER2, ONCALL, BotServer, Databases, write_config
from tests.fakes import FakeClock

LEAD = "U0LEAD"
PLAN = """
[rollout]
default_plan = "two"

[[rollout.plans.two]]
name = "demo tenant"
at = "0h"
slugs = ["demo_icupa"]

[[rollout.plans.two]]
name = "pilots"
at = "0h"
glob = "pilot_*"

[releases.tenant-profiles]
migrations = ["20250301000000_*"]
"""


BACKFILL = """
[backfill]
default_job = "tenant_profiles"

[backfill.environments.staging]

[backfill.environments.production]
window = "{opens}-{closes}"
timezone = "UTC"
requires_staging = true

[backfill.jobs.tenant_profiles]
table = "public.tenants"
key = "id"
batch_sql = "select 0, 0, null::bigint from (select %(after)s, %(upto)s, %(limit)s) as never_run"
verify_sql = "select count(*) from public.tenants"
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path, clock: FakeClock) -> RunbookConfig:
    now = clock.now()  # production's window opens in two hours: a run started now waits for it
    window = {"opens": f"{now + timedelta(hours=2):%H:%M}", "closes": f"{now + timedelta(hours=3):%H:%M}"}
    roles = f'platform_lead = ["{LEAD}", "{APPROVER}"]\ndba = ["{APPROVER2}"]'
    return write_config(tmp_path / "zdm.toml", app_root, extra=PLAN + BACKFILL.format(**window), roles=roles)


def glass_card(bot: BotServer, number: int = 1) -> Message:
    [card] = [
        m
        for m in bot.slack.in_channel("#release")
        if card_text(m).startswith(f"*🔓 Break-glass #{number}:") and "*Gates skipped:*" in card_text(m)
    ]
    return card


def press(bot: BotServer, message: Message, action: str, user: str) -> str:
    assert bot.click(message, action, user=user).status_code == 200
    bot.settle()
    return bot.responses()[-1]


def audit(dbs: Databases, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with dbs.state() as conn:
        rows = conn.execute(
            "select actor, outcome, detail from zdm.audit_log where action = %s order by id", (action,)
        ).fetchall()
    return [(r[0], r[1], dict(r[2])) for r in rows]


def test_a_broken_rollback_path_passes_only_with_a_second_person_never_the_one_who_asked(
    bot: BotServer, dbs: Databases, app_root: Path
) -> None:
    with dbs.target() as conn:
        conn.execute("drop function public.sp_restore_legacy_tenant_views()")
    bot.command("rollout start")
    bot.settle()
    said = press(bot, prompt_for(bot.slack, 1), APPROVE_ACTION, APPROVER)
    assert said.startswith("Nothing was approved for step 1 of rollout #1: the rollback path is broken")

    reply = bot.command('rollout approve #1 --break-glass "restore fn redeployed by hand, ticket OPS-7"', user=APPROVER)
    assert reply.json()["text"].startswith("Break-glass #1 asked: a `platform_lead` other than you must confirm")
    bot.settle()
    text = card_text(glass_card(bot))
    assert "⏳ waiting for a second person" in text
    assert "approve step 1 `demo tenant` of rollout #1" in text
    assert "• rollback readiness — the rollback path is broken: restore function" in text
    assert "*Why:* restore fn redeployed by hand, ticket OPS-7" in text

    # the one who asked (a platform_lead too) cannot confirm; someone without the role cannot either
    said = press(bot, glass_card(bot), CONFIRM_ACTION, APPROVER)
    assert said == "You asked for break-glass #1, so you cannot confirm it; another `platform_lead` must."
    said = press(bot, glass_card(bot), CONFIRM_ACTION, APPROVER2)
    assert said == "Only a `platform_lead` may confirm break-glass #1; you are not one, so nothing happened."
    assert "demo_icupa" not in enabled(dbs)
    assert [(a, o) for a, o, _ in audit(dbs, "breakglass.confirm")] == [(APPROVER, "refused"), (APPROVER2, "refused")]
    assert audit(dbs, "breakglass.used") == []

    stale = copy.deepcopy(glass_card(bot))  # as another client still shows it
    said = press(bot, glass_card(bot), CONFIRM_ACTION, LEAD)
    assert said.startswith("Confirmed break-glass #1: Enabled `tenant.enableNewProfile` for 1 tenants (step 1")
    assert "demo_icupa" in enabled(dbs)
    [(actor, outcome, detail)] = audit(dbs, "breakglass.used")
    assert (actor, outcome, detail["requested_by"], detail["confirmed_by"]) == (LEAD, "ok", APPROVER, LEAD)
    assert detail["gates"][0].startswith("rollback readiness — ")
    approvals = [d for a, o, d in audit(dbs, "rollout.approve") if o == "ok"]
    assert approvals[-1]["break_glass"] == "restore fn redeployed by hand, ticket OPS-7 (confirmed by U0LEAD)"
    assert "🔓 done" in card_text(glass_card(bot)) and not any(b["type"] == "actions" for b in glass_card(bot).blocks)
    [announced] = [
        m for m in bot.slack.in_channel("#release") if card_text(m).startswith("*🔓 Break-glass #1 used: approve")
    ]
    assert f"asked by <@{APPROVER}>, confirmed by <@{LEAD}>" in card_text(announced)

    # a second click on the spent card changes nothing
    assert press(bot, stale, CONFIRM_ACTION, LEAD).startswith("This prompt is stale: break-glass #1 is done")

    bot.command("notes tenant-profiles", user=ONCALL)
    bot.settle()
    changelog = (app_root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "- 🔓 Break-glass #1 on " in changelog and "confirmed by U0LEAD: restore fn redeployed" in changelog


def test_a_pilots_step_with_no_kpi_data_passes_once_a_lead_confirms(
    bot: BotServer, cadence: Cadence, dbs: Databases
) -> None:
    bot.command("rollout start")
    bot.settle()
    press(bot, prompt_for(bot.slack, 1), APPROVE_ACTION, APPROVER)
    cadence.at(timedelta(minutes=20), traffic=False)  # pilots due; no traffic: the gate has no data
    said = press(bot, prompt_for(bot.slack, 2), APPROVE_ACTION, APPROVER)
    assert said.startswith("KPI gate not met, so nothing was enabled")

    bot.command('rollout approve --break-glass "KPI source down during incident INC-9"', user=APPROVER)
    bot.settle()
    assert "• KPI gate — " in card_text(glass_card(bot)) and "no data" in card_text(glass_card(bot))
    said = press(bot, glass_card(bot), CANCEL_ACTION, APPROVER2)
    assert said == f"Only <@{APPROVER}> or a `platform_lead` may cancel break-glass #1."
    said = press(bot, glass_card(bot), CONFIRM_ACTION, LEAD)
    assert said.startswith("Confirmed break-glass #1: Enabled `tenant.enableNewProfile` for ")
    assert {"pilot_b", "demo_icupa"} <= enabled(dbs)
    [(_, outcome, detail)] = audit(dbs, "breakglass.used")
    assert outcome == "ok" and detail["gates"][0].startswith("KPI gate — ")


def test_nothing_to_skip_and_bad_options_say_so_and_record_nothing(bot: BotServer, dbs: Databases) -> None:
    bot.command("rollout start")
    bot.settle()
    said = bot.command('rollout approve --break-glass "just because"', user=APPROVER).json()["text"]
    assert said == "Nothing blocks step 1 of rollout #1 now; approve it on its card (no break-glass)."
    said = bot.command("rollout approve --break-glass", user=APPROVER).json()["text"]
    assert said.startswith("`--break-glass` needs a reason in quotes")
    said = bot.command('rollout approve --break-glass "x"', user=ONCALL).json()["text"]
    assert said.startswith("`--break-glass` needs a reason in quotes")
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.break_glass").fetchone() == (0,)


def test_a_backfill_on_production_before_staging_starts_once_a_lead_confirms(bot: BotServer, dbs: Databases) -> None:
    said = bot.command("backfill start production", user=APPROVER2).json()["text"]
    assert said.startswith("`tenant_profiles` has not finished on staging yet") and "--break-glass" in said
    said = bot.command('backfill start production --break-glass "staging restored from prod"', user=APPROVER2)
    assert said.json()["text"].startswith("Break-glass #1 asked")
    bot.settle()
    assert "• staging first — `tenant_profiles` has not finished (verified) on staging" in card_text(glass_card(bot))
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.backfill_runs").fetchone() == (0,)
    assert press(bot, glass_card(bot), CONFIRM_ACTION, APPROVER2).startswith("You asked for break-glass #1")
    said = press(bot, glass_card(bot), CONFIRM_ACTION, LEAD)
    assert said == "Confirmed break-glass #1: Backfill #1 of `tenant_profiles` on `production` is paused."
    [(_, outcome, detail)] = [r for r in audit(dbs, "backfill.start")]
    assert outcome == "ok" and detail["break_glass"] == "staging restored from prod (confirmed by U0LEAD)"


def test_a_confirmation_interrupted_by_a_crash_is_settled_on_its_card_never_run_twice(
    bot: BotServer, container: Container, dbs: Databases
) -> None:
    with dbs.target() as conn:
        conn.execute("drop function public.sp_restore_legacy_tenant_views()")
    bot.command("rollout start")
    bot.settle()
    bot.command('rollout approve --break-glass "restore fn redeployed by hand"', user=APPROVER)
    bot.settle()
    with dbs.state() as conn:  # what a crash right after the claim leaves behind
        conn.execute(
            "update zdm.break_glass set status = 'confirmed',"
            " doc = doc || jsonb_build_object('status', 'confirmed', 'confirmed_by', %s::text)",
            (LEAD,),
        )
    assert container.services.breakglass.settle_interrupted() == 1
    assert container.services.breakglass.settle_interrupted() == 0
    text = card_text(glass_card(bot))
    assert "❌ confirmed, but the action did not run" in text and "zdm stopped while running it" in text
    assert [(a, o) for a, o, _ in audit(dbs, "breakglass.used")] == [("zdm", "interrupted")]
    assert "demo_icupa" not in enabled(dbs)
