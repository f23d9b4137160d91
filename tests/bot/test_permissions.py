"""The permissions table through signed requests: strangers are refused every command that acts, each refusal is
audited, `/zdm help` shows the table, and user-group roles fail closed once the cached membership is too old."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig
from tests.conftest import (
    GROUP_MEMBER,
    ONCALL,
    ONCALL_GROUP,
    STRANGER,
    BotServer,
    Databases,
    make_settings,
    write_config,
)
from tests.fakes import FakeClock

DBA_GROUP, IN_DBA_GROUP = "S0DBA", "U0INDBA"
CANNOT_VERIFY = "zdm cannot verify your role right now"
ACTING_COMMANDS = (
    "schema plan preview",
    "schema deploy preview",
    "schema cancel preview",
    "cleanup plan profiles",
    "notes profiles",
    "archive profiles",
    "archive verify profiles",
    "checklist profiles",
    "rollback tenant pilot_a",
    "rollout start",
    "rollout abort",
    "backfill start staging",
)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(user_groups={ONCALL_GROUP: [GROUP_MEMBER], DBA_GROUP: [IN_DBA_GROUP]}).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, roles=f'dba = ["{DBA_GROUP}"]')


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> Iterator[Container]:
    settings = make_settings(dbs, slack, tmp_path).model_copy(update={"role_cache_max_age_s": 600.0})
    built = build_container(settings, config=config, clock=clock)
    yield built
    built.close()


def audit_rows(dbs: Databases, action: str = "command.refused") -> list[tuple[str, str, str]]:
    with dbs.state() as conn:
        rows = conn.execute(
            "select actor, subject, outcome from zdm.audit_log where action = %s order by id", (action,)
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def ack(bot: BotServer, text: str, user: str) -> str:
    response = bot.command(text, user=user)
    assert response.status_code == 200
    bot.settle()
    return str(response.json()["text"])


def test_a_stranger_is_refused_every_command_that_acts_and_each_refusal_is_audited(
    bot: BotServer, dbs: Databases
) -> None:
    for text in ACTING_COMMANDS:
        reply = ack(bot, text, STRANGER)
        assert reply.startswith("Only members of "), (text, reply)
        assert f"may run `/zdm {' '.join(text.split()[:2])}`" in reply, (text, reply)
    subjects = [subject for _, subject, _ in audit_rows(dbs)]
    assert subjects == [
        "schema", "schema", "schema", "cleanup", "notes", "archive", "archive", "checklist", "rollback", "rollout",
        "rollout abort", "backfill",
    ]  # fmt: skip
    assert {(actor, outcome) for actor, _, outcome in audit_rows(dbs)} == {(STRANGER, "refused")}
    assert bot.slack.in_channel("#release") == []  # nothing was planned, posted or started
    with dbs.state() as conn:
        for table in ("rollbacks", "rollouts", "backfill_runs", "schema_deploys", "cleanups"):
            assert conn.execute(f"select count(*) from zdm.{table}").fetchone()[0] == 0, table
    with dbs.target() as conn:
        scratch = conn.execute("select count(*) from pg_database where datname like 'zdm_scratch%'").fetchone()[0]
    assert scratch == 0


def test_read_only_commands_stay_open_and_help_shows_who_may_run_what(bot: BotServer, dbs: Databases) -> None:
    assert not ack(bot, "schema status", STRANGER).startswith("Only members")
    assert not ack(bot, "rollout status", STRANGER).startswith("Only members")
    assert not ack(bot, "alerts", STRANGER).startswith("Only members")
    help_text = ack(bot, "help", STRANGER)
    assert "`/zdm schema " in help_text and "_Who:_ `dba`, `platform_lead` (`status`: everyone)" in help_text
    assert "_Who:_ `release_approvers` (`abort`: `oncall`, `release_approvers`; `list`: everyone" in help_text
    assert "_Who:_ `oncall`" in help_text
    assert audit_rows(dbs) == []


def test_a_user_group_role_fails_closed_once_its_cached_membership_is_too_old(
    bot: BotServer, dbs: Databases, clock: FakeClock
) -> None:
    unknown_env = "schema plan nowhere"  # passes the role check, then stops at the unknown environment
    assert "nowhere" in ack(bot, unknown_env, IN_DBA_GROUP) and audit_rows(dbs) == []

    bot.slack.fail("usergroups.users.list")
    clock.advance(timedelta(minutes=6))  # stale enough to ask Slack again, young enough to trust when it fails
    assert "nowhere" in ack(bot, unknown_env, IN_DBA_GROUP) and audit_rows(dbs) == []

    clock.advance(timedelta(minutes=5))  # 11 minutes: too old to trust
    assert ack(bot, unknown_env, IN_DBA_GROUP).startswith(CANNOT_VERIFY)
    # an on-call member through the group cannot be verified either; a direct (user-id) member still rolls back
    assert ack(bot, "rollback tenant pilot_a group member", GROUP_MEMBER).startswith(CANNOT_VERIFY)
    assert "Rolling back `pilot_a`" in ack(bot, "rollback tenant pilot_a direct member", ONCALL)
    assert audit_rows(dbs) == [(IN_DBA_GROUP, "schema", "unverified"), (GROUP_MEMBER, "rollback", "unverified")]

    bot.slack.fail("usergroups.users.list", None)  # Slack answers again: the group member is verified afresh
    assert "nowhere" in ack(bot, unknown_env, IN_DBA_GROUP)
    assert len(audit_rows(dbs)) == 2
