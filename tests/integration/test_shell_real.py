"""`zdm shell` on real (configured) databases next to a running bot: it posts through the configured Slack API,
re-links and re-posts nothing, runs no scheduled job, and one person cannot act as another."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig
from tests.conftest import APPROVER, ONCALL, SECRET, BotServer, Databases


def rollout_doc(dbs: Databases) -> object:
    with dbs.state() as conn:
        row = conn.execute("select doc from zdm.rollouts where id = 1").fetchone()
    assert row is not None
    return row[0]


def ledger_keys(dbs: Databases) -> set[str]:
    with dbs.state() as conn:
        return {r[0] for r in conn.execute("select request_key from zdm.slack_requests")}


@pytest.fixture
def shell_env(dbs: Databases, slack: SlackEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of an operator's `zdm shell` in the bot's container: the bot's databases and Slack."""
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for key, value in {
        "ZDM_STATE_DATABASE_URL": dbs.state_url,
        "ZDM_TARGET_DATABASE_URL": dbs.target_url,
        "ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml"),
        "ZDM_SLACK_BOT_TOKEN": slack.token,
        "ZDM_SLACK_SIGNING_SECRET": SECRET,
        "ZDM_SLACK_API_URL": slack.api_url,
        "ZDM_SHELL_USER": ONCALL,
        "ZDM_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(key, value)


def test_the_shell_on_real_databases_posts_to_slack_but_relinks_nothing_and_runs_no_job(
    bot: BotServer, dbs: Databases, slack: SlackEmulator, shell_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bot.command("rollout start").json()["text"].startswith("Started rollout #1")
    bot.settle()
    doc, cards = rollout_doc(dbs), list(slack.in_channel("#release"))
    assert cards  # the rollout's thread lives in Slack; its message refs are in the rollout's record
    with dbs.state() as conn:  # a ledger row the scheduler's purge job would delete
        conn.execute(
            "insert into zdm.slack_requests values ('old-request', 'slash_command', now() - interval '30 days', 0)"
        )

    code = main(["shell", "-c", f"as {APPROVER}", "-c", "whoami", "-c", "/zdm rollback tenant pilot_a from the shell"])

    out = capsys.readouterr().out
    assert code == 0
    assert "`as` only works in `zdm demo`" in out and f"acting as {ONCALL}" in out
    assert "Rolling back `pilot_a`" in out
    assert rollout_doc(dbs) == doc  # no card re-posted or re-linked
    posted = slack.in_channel("#release")
    assert posted[: len(cards)] == cards
    assert [m for m in posted[len(cards) :] if "pilot_a" not in m.text] == []  # only the rollback's own card
    assert any("Rolled back `pilot_a`" in str(m.blocks) for m in posted)  # through the configured Slack API
    assert "old-request" in ledger_keys(dbs)  # no scheduled job ran


def test_the_shell_on_real_databases_refuses_to_act_as_someone_else_or_move_the_clock(
    config: RunbookConfig, shell_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shell", "--as", APPROVER, "-c", "whoami"]) == 2
    assert main(["shell", "--time-scale", "2000", "-c", "whoami"]) == 2
    err = capsys.readouterr().err
    assert "`--as` only works in `zdm demo`" in err and "`--time-scale` only works in `zdm demo`" in err
