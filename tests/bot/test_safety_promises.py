"""Issue 14's cases through signed Slack requests on real Postgres: a rollback during a flip wins (1), the alert
watches a `command`-backend rollout (3), only known flags roll out (4), pause and abort stop a flip between tenants
and a resumed flip re-checks the gates (5), and the cadence counts from the first flip (9). Case 2 (cleanup gate)
is `tests/bot/test_cleanup.py::test_a_rollback_or_a_missing_pair_refuses`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from bot.local.standins import PagerDutyStandIn
from commands.config import RunbookConfig
from commands.rollout.views import APPROVE_ACTION
from tests.bot.conftest import FLAG, Cadence, card_text, enabled, prompt_for, step_prompts, thread_messages
from tests.conftest import APPROVER, ONCALL, BotServer, Databases, make_settings, write_config
from tests.fakes import FakeClock

H, M = timedelta(hours=1), timedelta(minutes=1)
SLOW_CLI = """
import subprocess, sys, time
time.sleep(0.05)  # a real flag CLI takes a while per tenant
sys.exit(subprocess.call([sys.executable, "scripts/flags.py", *sys.argv[1:]]))
"""
COMMAND_BACKEND = """
[flag]
backend = "command"
enable_argv = ["{python}", "scripts/slow_flags.py", "enable", "{flag}", "--tenant={tenant}", "--actor={actor}"]
disable_argv = ["{python}", "scripts/slow_flags.py", "disable", "{flag}", "--tenant={tenant}", "--actor={actor}"]

[alerts]
evaluate_every = "1s"
"""
SLOW_PLAN = (
    COMMAND_BACKEND
    + """
[rollout]
default_plan = "slow"

[[rollout.plans.slow]]
name = "a handful"
at = "0h"
glob = "ga_00*"
"""
)


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path, app_root: Path) -> RunbookConfig:
    (app_root / "scripts" / "slow_flags.py").write_text(SLOW_CLI, encoding="utf-8")
    return write_config(tmp_path / "zdm.toml", app_root, extra=getattr(request, "param", ""))


@pytest.fixture
def container(
    dbs: Databases,
    slack: SlackEmulator,
    config: RunbookConfig,
    tmp_path: Path,
    clock: FakeClock,
    pagerduty: PagerDutyStandIn,
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path, pagerduty=pagerduty), config=config, clock=clock)
    yield built
    built.close()


def click_approve_and_wait_for(bot: BotServer, dbs: Databases, *, tenants: int) -> None:
    """Press Approve on step 1; return once ``tenants`` of its cohort are on (the flip is still running)."""
    assert bot.click(prompt_for(bot.slack, 1), APPROVE_ACTION, user=APPROVER).status_code == 200
    for _ in range(100_000):
        if len(enabled(dbs) & COHORT) >= tenants:
            return
    raise AssertionError("the flip did not start")


COHORT = {f"ga_00{i}" for i in range(1, 10)}


def start(bot: BotServer) -> None:
    assert bot.command("rollout start").status_code == 200
    bot.settle()


@pytest.mark.parametrize("config", [SLOW_PLAN], indirect=True)
def test_case1_a_rollback_sent_during_a_command_backend_flip_wins_and_the_card_names_the_skip(
    bot: BotServer, dbs: Databases
) -> None:
    start(bot)
    click_approve_and_wait_for(bot, dbs, tenants=2)
    said = bot.command("rollback tenant ga_009 checkout errors").json()["text"]
    assert said.startswith("Rolling back `ga_009`")
    bot.settle()
    assert "ga_009" not in enabled(dbs)
    assert COHORT - {"ga_009"} <= enabled(dbs)  # the rest of the cohort was flipped
    card = card_text(prompt_for(bot.slack, 1))
    assert "⏭ skipped 1: `ga_009` rolled back during the flip (rollback #1)" in card
    with dbs.state() as conn:
        outcome = conn.execute(
            "select outcome from zdm.audit_log where action = 'rollout.flag_on' and subject = 'ga_009'"
        ).fetchall()
    assert outcome == [("skipped",)]


@pytest.mark.parametrize("config", [SLOW_PLAN], indirect=True)
def test_case5_pause_stops_a_flip_between_tenants_and_the_resumed_flip_rechecks_the_gates(
    bot: BotServer, dbs: Databases
) -> None:
    start(bot)
    click_approve_and_wait_for(bot, dbs, tenants=1)
    assert bot.command("rollout pause checking something").status_code == 200
    bot.settle()
    on = enabled(dbs) & COHORT
    assert 1 <= len(on) < len(COHORT)  # stopped between tenants, not completed
    card = card_text(prompt_for(bot.slack, 1))
    assert f"⏸ Flip stopped by the pause after {len(on)} tenants; {len(COHORT) - len(on)} left off" in card

    bot.command("rollout resume")  # the tenants just enabled have no KPI data: the gates block (no_data = block)
    bot.settle()
    assert enabled(dbs) & COHORT == on
    assert any("stopped flip was not resumed: the KPI gates fail" in card_text(m) for m in thread_messages(bot.slack))
    assert "Approve" in str(prompt_for(bot.slack, 1).blocks)  # it waits for a fresh approval


@pytest.mark.parametrize("config", [SLOW_PLAN], indirect=True)
def test_case5_an_alerts_automatic_pause_stops_a_running_flip_too(
    bot: BotServer, container: Container, dbs: Databases
) -> None:
    start(bot)
    click_approve_and_wait_for(bot, dbs, tenants=1)
    paused = container.services.rollouts.pause_for_alert(flag=FLAG, reason="alert `error_rate` fired")
    bot.settle()
    assert paused == [1]
    on = enabled(dbs) & COHORT
    assert 1 <= len(on) < len(COHORT)
    assert "⏸ Flip stopped by the pause after" in card_text(prompt_for(bot.slack, 1))


@pytest.mark.parametrize("config", [SLOW_PLAN], indirect=True)
def test_case5_abort_stops_a_flip_and_never_completes_it(bot: BotServer, dbs: Databases) -> None:
    start(bot)
    click_approve_and_wait_for(bot, dbs, tenants=1)
    assert bot.command("rollout abort bad idea").status_code == 200
    bot.settle()
    on = enabled(dbs) & COHORT
    assert 1 <= len(on) < len(COHORT)
    assert bot.command("rollout status").json()["text"]  # the status card renders
    with dbs.state() as conn:
        flips = conn.execute(
            "select count(*) from zdm.audit_log where action = 'rollout.flag_on' and outcome = 'ok'"
        ).fetchone()
    assert flips == (len(on),)  # one audit row per tenant actually enabled


def test_case4_an_unknown_flag_is_one_sentence_listing_the_known_flags(bot: BotServer) -> None:
    said = bot.command("rollout start tenant.enableNewProfle").json()["text"]
    assert said == (
        "zdm does not know the flag `tenant.enableNewProfle`; known flags (zdm.toml): `tenant.enableNewProfile`."
    )
    assert "No rollouts yet" in bot.command("rollout list").json()["text"]


def traffic(dbs: Databases, tenant: str, since: datetime, until: datetime, *, errors_per_minute: int) -> None:
    with dbs.target() as conn:
        conn.execute(
            "insert into public.request_metrics (tenant_slug, at, status, latency_ms)"
            " select %(tenant)s, m + (n * interval '600 milliseconds'),"
            "  case when n < %(errors)s then 500 else 200 end, 90"
            " from generate_series(%(since)s::timestamptz, %(until)s::timestamptz - interval '1 minute',"
            "  interval '1 minute') as m, generate_series(0, 99) as n",
            {"tenant": tenant, "since": since, "until": until, "errors": errors_per_minute},
        )


@pytest.mark.parametrize("config", [COMMAND_BACKEND], indirect=True)
def test_case3_with_the_command_backend_the_default_alert_pages_for_the_tenants_zdm_enabled(
    bot: BotServer, dbs: Databases, cadence: Cadence, pagerduty: PagerDutyStandIn
) -> None:
    start(bot)
    bot.click(prompt_for(bot.slack, 1), APPROVE_ACTION, user=APPROVER)
    bot.settle()
    assert "demo_icupa" in enabled(dbs)
    t0 = cadence.clock.now()
    traffic(dbs, "demo_icupa", t0 - 5 * M, t0 + 12 * M, errors_per_minute=30)  # 30 % errors
    for minute in range(1, 8):
        cadence.at(t0 - cadence.start + minute * M, traffic=False)
    triggers = [r.body for r in pagerduty.requests() if r.body["event_action"] == "trigger"]
    assert len(triggers) == 1 and triggers[0]["payload"]["custom_details"]["tenants"] == 1


def test_case9_the_cadence_counts_from_the_first_flip_and_the_card_says_why(
    bot: BotServer, dbs: Databases, cadence: Cadence
) -> None:
    start(bot)
    cadence.at(11 * H)  # demo_icupa approved late: T+0 is now
    bot.click(prompt_for(bot.slack, 1), APPROVE_ACTION, user=APPROVER)
    bot.settle()
    cadence.at(12 * H)
    assert not step_prompts(bot.slack, 2)  # not one hour after the first flip
    root = card_text(bot.slack.in_channel("#release")[0])
    assert "T+12h after the first flip" in root
    cadence.at(23 * H)
    assert step_prompts(bot.slack, 2)


def test_case1_a_tenant_whose_rollback_is_still_open_cannot_be_re_included(
    bot: BotServer, container: Container, dbs: Databases
) -> None:
    container.services.rollbacks.start(text="tenant ga_001 errors", actor=ONCALL)  # recorded, steps not run yet
    said = bot.command("rollout include ga_001").json()["text"]
    assert said == "Rollback #1 of `ga_001` is still running; re-include it once it has finished."
    container.services.rollbacks.run(1)
    assert "back in `tenant.enableNewProfile` rollouts" in bot.command("rollout include ga_001").json()["text"]
