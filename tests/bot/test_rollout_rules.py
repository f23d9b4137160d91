"""Rollout rules through real Slack requests: deny with a reason, pause/resume, breach auto-pause, no-data
blocking, stale and double clicks, held-out tenants, reminders and escalation."""

from __future__ import annotations

import copy
from datetime import timedelta

from bot.signing import sign, view_submission_body
from commands.rollout.views import APPROVE_ACTION, DENY_ACTION
from tests.bot.conftest import Cadence, approve, card_text, enabled, prompt_for, step_prompts, thread_messages
from tests.conftest import APPROVER, APPROVER2, ONCALL, SECRET, STRANGER, BotServer, Databases

H = timedelta(hours=1)


def start_and_flip_first(bot: BotServer) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)


def then_said(bot: BotServer, text: str, *, user: str = ONCALL) -> str:
    """Send a command whose work runs after the ack; return what the bot reported back afterwards."""
    ack = bot.command(text, user=user).json()["text"]
    bot.settle()
    return f"{ack} / {bot.responses()[-1]}"


def thread_says(bot: BotServer, text: str) -> bool:
    return any(text in card_text(m) for m in thread_messages(bot.slack))


def rollout_status(dbs: Databases) -> str:
    with dbs.state() as conn:
        return str(conn.execute("select status from zdm.rollouts order by id desc limit 1").fetchone()[0])


def test_deny_asks_for_a_reason_and_stops_the_rollout(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    start_and_flip_first(bot)
    cadence.at(12 * H)
    bot.click(prompt_for(bot.slack, 2), DENY_ACTION, user=APPROVER2)
    bot.settle()
    [modal] = bot.slack.modals()
    assert modal.view is not None and "Why stop this rollout?" in str(modal.blocks)
    assert rollout_status(dbs) == "running"  # opening the dialog changes nothing

    body = view_submission_body(
        user_id=APPROVER2, view=modal.view, values={"reason": {"reason_input": "pilot_c reports slow checkout"}}
    )
    response = bot.post(sign(SECRET, body))
    assert response.status_code == 200 and not response.content
    bot.settle()
    assert rollout_status(dbs) == "denied"
    assert "⛔ Denied by <@U0APPROVER2>: pilot_c reports slow checkout" in card_text(prompt_for(bot.slack, 2))
    assert thread_says(bot, "stopped: <@U0APPROVER2> denied it")
    ephemeral = [m for m in bot.slack.messages if m.kind == "ephemeral"]
    assert ephemeral and ephemeral[-1].user == APPROVER2 and "is stopped" in ephemeral[-1].text

    before = enabled(dbs)
    cadence.at(80 * H)
    assert enabled(dbs) == before and not step_prompts(bot.slack, 3)

    # the same dialog submitted again is stale, shown inside the dialog
    again = view_submission_body(user_id=APPROVER2, view=modal.view, values={"reason": {"reason_input": "again"}})
    errors = bot.post(sign(SECRET, again)).json()
    assert errors["response_action"] == "errors" and "This prompt is stale" in errors["errors"]["reason"]


def test_pause_stops_the_clock_and_resume_shifts_later_steps(bot: BotServer, cadence: Cadence) -> None:
    start_and_flip_first(bot)
    cadence.at(1 * H)
    said = then_said(bot, "rollout pause waiting for the incident review")
    assert said == "Pausing rollout #1… / Rollout #1 is paused."
    assert thread_says(bot, "paused by <@U0ONCALL>: waiting for the incident review")
    cadence.at(5 * H)
    assert then_said(bot, "rollout resume") == "Resuming rollout #1… / Rollout #1 is running."
    cadence.at(16 * H - timedelta(minutes=1))  # 12 h + 4 h paused
    assert not step_prompts(bot.slack, 2)
    cadence.at(16 * H)
    prompt_for(bot.slack, 2)


def test_a_kpi_breach_while_waiting_pauses_the_rollout(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    start_and_flip_first(bot)
    cadence.traffic.error_rate = 0.5
    cadence.at(30 * timedelta(minutes=1))
    assert rollout_status(dbs) == "paused"
    assert thread_says(bot, "paused automatically: KPI breach — error rate")
    status = bot.command("rollout status").json()
    assert "paused" in str(status["blocks"]) and "KPI breach" in str(status["blocks"])

    cadence.traffic.error_rate = 0.0
    cadence.at(24 * H)  # paused: nothing becomes due however long it waits
    assert not step_prompts(bot.slack, 2)


def test_no_kpi_data_blocks_the_flip_with_a_clear_message(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    start_and_flip_first(bot)
    cadence.at(12 * H, traffic=False)
    with dbs.target() as conn:  # the demo seed's metrics are hours old by now; make sure none are in the window
        conn.execute("delete from public.request_metrics")
    before = enabled(dbs)
    approve(bot, 2, APPROVER)
    said = bot.responses()[-1]
    assert said.startswith("KPI gate not met, so nothing was enabled: error rate: no data")
    assert enabled(dbs) == before
    cadence.at(12 * H + timedelta(minutes=20))  # traffic again: the same button now works
    approve(bot, 2, APPROVER)
    assert {"pilot_c", "pilot_d", "pilot_e"} <= enabled(dbs)


def test_double_click_and_stale_buttons_flip_once(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    bot.command("rollout start")
    bot.settle()
    step1 = prompt_for(bot.slack, 1)
    as_shown = copy.deepcopy(step1)
    first = bot.click(as_shown, APPROVE_ACTION, user=APPROVER)
    second = bot.click(as_shown, APPROVE_ACTION, user=APPROVER2)
    assert first.status_code == second.status_code == 200
    bot.settle()
    assert enabled(dbs) >= {"demo_icupa"}
    with dbs.state() as conn:
        flips = conn.execute("select count(*) from zdm.audit_log where action = 'rollout.flag_on'").fetchone()[0]
    assert flips == 1
    assert any("This prompt is stale: step 1 of rollout #1 is no longer waiting" in r for r in bot.responses())

    assert then_said(bot, "rollout abort changed our minds") == "Aborting rollout #1… / Rollout #1 is aborted."
    cadence.at(12 * H)
    assert not step_prompts(bot.slack, 2)
    bot.click(as_shown, APPROVE_ACTION, user=APPROVER)
    bot.settle()
    assert "This prompt is stale: rollout #1 is aborted" in bot.responses()[-1]


def test_rolled_back_tenants_are_held_out_until_included(bot: BotServer, cadence: Cadence, dbs: Databases) -> None:
    start_and_flip_first(bot)
    cadence.at(12 * H)
    approve(bot, 2, APPROVER)
    bot.command("rollback tenant ga_001 checkout errors")
    bot.settle()
    assert "ga_001" not in enabled(dbs)
    cadence.at(36 * H)
    step3 = card_text(prompt_for(bot.slack, 3))
    assert "Held out after a rollback: `ga_001`" in step3
    assert "Held out after a rollback: `ga_001` (rollback #1)" in card_text(bot.slack.in_channel("#release")[0])
    approve(bot, 3, APPROVER)
    assert "ga_001" not in enabled(dbs)

    refused = bot.command("rollout include ga_001", user=STRANGER).json()["text"]
    assert refused.startswith("Only members of `release_approvers` may run `/zdm rollout include`")
    assert "back in `tenant.enableNewProfile` rollouts" in bot.command("rollout include ga_001").json()["text"]
    assert "is not held out" in bot.command("rollout include ga_001").json()["text"]
    cadence.at(72 * H)
    approve(bot, 4, APPROVER)
    approve(bot, 4, APPROVER2)
    assert "ga_001" in enabled(dbs)


def test_unanswered_prompts_get_a_reminder_then_an_escalation(bot: BotServer, cadence: Cadence) -> None:
    bot.command("rollout start")
    bot.settle()
    cadence.at(2 * H - timedelta(minutes=1))
    assert not thread_says(bot, "Reminder")
    cadence.at(2 * H)
    assert thread_says(bot, "⏰ Reminder <@U0ONCALL> <@U0APPROVER> <@U0APPROVER2>: step 1 of rollout #1 waits")
    cadence.at(6 * H)
    assert thread_says(bot, "🚨 <@U0ONCALL> <!subteam^S0ONCALL>: step 1 of rollout #1 has waited 6 h 00 min")
    cadence.at(7 * H)
    reminders = [m for m in thread_messages(bot.slack) if "⏰" in card_text(m) or "🚨" in card_text(m)]
    assert len(reminders) == 2  # each once


def test_commands_explain_bad_input_and_refusals(bot: BotServer) -> None:
    def said(text: str, user: str = ONCALL) -> str:
        return str(bot.command(text, user=user).json()["text"])

    assert said("rollout").startswith("Use `/zdm rollout start [flag] [--plan NAME]`")
    assert said("rollout start --plan nope") == "There is no plan `nope` in zdm.toml; plans: runbook."
    assert said("rollout start", user=STRANGER).startswith(
        "Only members of `release_approvers` may run `/zdm rollout start`"
    )
    assert said("rollout status").startswith("There is no active rollout")
    assert said("rollout status #7") == "There is no rollout #7. `/zdm rollout list` shows the recent ones."
    assert said("rollout include Bad!Slug").startswith("Unexpected `Bad!Slug`; use `/zdm rollout include <slug>`")
    assert said("rollout start").startswith("Started rollout #1")
    assert said("rollout start").startswith("`tenant.enableNewProfile` already has an active rollout (#1)")
    assert said("rollout resume").startswith("Rollout #1 is running, not paused")
    assert said("rollout pause", user=STRANGER).startswith(
        "Only members of `oncall` or `release_approvers` may run `/zdm rollout pause`"
    )
    assert said("rollout list").startswith("#1 `tenant.enableNewProfile` · running · step 1/4 demo tenant")
    bot.settle()
