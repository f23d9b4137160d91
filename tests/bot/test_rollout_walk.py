"""The runbook's 72 h plan end to end: signed Slack requests → Bolt → rollout service → real Postgres, with the
real APScheduler ticking on a fake clock and the Slack Web API emulated at the network edge."""

from __future__ import annotations

from datetime import timedelta

from commands.config import RunbookConfig
from commands.rollout.views import APPROVE_ACTION
from tests.bot.conftest import Cadence, approve, card_text, enabled, prompt_for, step_prompts, thread_messages
from tests.conftest import APPROVER, APPROVER2, ONCALL, BotServer, Databases

H = timedelta(hours=1)


def audit(dbs: Databases, action: str) -> list[tuple[str, str, str]]:
    with dbs.state() as conn:
        rows = conn.execute(
            "select actor, subject, outcome from zdm.audit_log where action = %s order by id", (action,)
        ).fetchall()
    return [tuple(r) for r in rows]


def low_volume(dbs: Databases) -> set[str]:
    with dbs.target() as conn:
        rows = conn.execute(
            "select t.slug from public.tenants t where (select count(*) from public.orders o"
            " where o.tenant_id = t.id and o.created_at >= now() - interval '7 days') < 500"
        )
        return {r[0] for r in rows}


def test_runbook_plan_walks_four_steps_at_0_12_36_72_hours(
    bot: BotServer, cadence: Cadence, dbs: Databases, config: RunbookConfig
) -> None:
    before = enabled(dbs)
    assert before == {"pilot_a", "pilot_b"}
    ack = bot.command("rollout start")
    assert ack.json()["text"].startswith("Started rollout #1 of `tenant.enableNewProfile`")
    bot.settle()

    # T+0h: the thread opens and step 1 asks for approval with its evidence
    root = bot.slack.in_channel("#release")[0]
    assert root.thread_ts is None and "Rollout #1" in card_text(root)
    step1 = prompt_for(bot.slack, 1)
    assert step1.thread_ts == root.ts
    text = card_text(step1)
    assert "Cohort: *1 tenants*" in text and "`demo_icupa`" in text
    assert "no tenants enabled yet" in text and "Approvals: 0 of 1" in text
    assert f"<@{APPROVER}>" in text

    # the starter cannot approve their own rollout
    bot.click(step1, APPROVE_ACTION, user=ONCALL)
    bot.settle()
    assert "You started rollout #1, so you cannot approve its steps" in bot.responses()[-1]
    assert enabled(dbs) == before

    approve(bot, 1, APPROVER)
    assert enabled(dbs) == before | {"demo_icupa"}
    assert "✅ Enabled for 1 tenants by <@U0APPROVER>" in card_text(step1)
    assert not any(b["type"] == "actions" for b in step1.blocks)  # buttons gone once decided

    # T+12h exactly, not a minute before
    cadence.at(12 * H - timedelta(minutes=1))
    assert len(thread_messages(bot.slack)) == 1
    cadence.at(12 * H)
    step2 = prompt_for(bot.slack, 2)
    text = card_text(step2)
    assert "Cohort: *3 tenants*" in text and "Already enabled, skipped: 2" in text
    assert "✅ error rate: 0.00 %" in text and "✅ P95 latency" in text
    approve(bot, 2, APPROVER)
    assert {"pilot_c", "pilot_d", "pilot_e"} <= enabled(dbs)

    # T+36h: tenants with fewer than 500 orders in the last 7 days (resolved now, by SQL)
    cadence.at(36 * H - timedelta(minutes=1))
    assert len(step_prompts(bot.slack)) == 2
    cadence.at(36 * H)
    prompt_for(bot.slack, 3)
    approve(bot, 3, APPROVER2)
    after3 = enabled(dbs)
    assert low_volume(dbs) <= after3
    assert "ga_005" not in after3 and "ga_001" in after3  # every 5th GA tenant has ≥ 500 orders a week

    # T+72h: everyone, with two approvals
    cadence.at(72 * H)
    approve(bot, 4, APPROVER)
    assert "Approval recorded (1 of 2)" in bot.responses()[-1]
    assert "ga_005" not in enabled(dbs)
    approve(bot, 4, APPROVER2)
    with dbs.target() as conn:
        total = conn.execute("select count(*) from public.tenants").fetchone()[0]
    assert len(enabled(dbs)) == total

    # every toggle is logged: audit rows and the rollback log
    toggled = audit(dbs, "rollout.flag_on")
    assert len(toggled) == total - 2 and len({t[1] for t in toggled}) == total - 2
    log = config.rollback_log_path.read_text()
    assert log.count("— rollout #1 step") == 4 and "`tenant.enableNewProfile` on for 1 tenants" in log

    bot.command("rollout status")
    bot.settle()
    status = bot.command("rollout status").json()
    story = status["text"] + str(status.get("blocks"))
    assert "✅ *done*" in story and "enabled 1 by <@U0APPROVER>" in story
    assert "Rollout #1 finished" in card_text(thread_messages(bot.slack)[-1])
