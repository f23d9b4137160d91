"""``zdm check`` refuses each broken config a new user ran into, with one line naming the key; ``--connect``
reaches the real databases and the local Slack stand-in; start-up failures are one sentence and exit 2."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.local.emulator import SlackEmulator
from bot.local.standins import GitHubStandIn, PagerDutyStandIn
from commands.errors import ConfigError
from tests.conftest import Databases, write_config

BROKEN = [
    (
        '[backfill.environments.production]\nwindow = "01:00-05:00"\ntimezone = "Europe/Berlyn"\n',
        "'Europe/Berlyn' is not a known IANA time zone",
    ),
    ('[backfill.environments.production]\nwindow = "25:00-05:00"\n', "hours run from 00 to 23"),
    ('[backfill.environments.production]\nwindow = "1:00-05:00\\n"\n', "write it as 'HH:MM-HH:MM'"),
    (
        '[releases.r1]\nmigrations = ["2025*"]\nbackfill_job = "nope"\n',
        "release 'r1' names backfill job 'nope', which [backfill.jobs] does not define",
    ),
    ('[releases.r1]\nmigrations = ["2025*"]\nschema_env = "prod"\n', "names schema environment 'prod'"),
    ('[schema.lint]\nsquawk_argv = ["squawkk"]\n', "program schema.lint.squawk_argv: `squawkk` is not on PATH"),
]


@pytest.fixture(autouse=True)
def own_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ZDM_* variable or .env file of the machine leaks in, and the root logger that ``main`` reconfigures is
    put back afterwards."""
    for name in [n for n in os.environ if n.startswith("ZDM_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], config: Path, *argv: str
) -> tuple[int, str]:
    monkeypatch.setenv("ZDM_CONFIG_PATH", str(config))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(("extra", "said"), BROKEN)
def test_check_refuses_each_broken_config_with_one_line(
    tmp_path: Path,
    app_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    said: str,
) -> None:
    path = tmp_path / "zdm.toml"
    with contextlib.suppress(ConfigError):  # the loader itself refuses most of them; `zdm check` must say the same
        write_config(path, app_root, extra)
    code, output = run(monkeypatch, capsys, path, "check")
    assert code == 2 and said in output, output
    assert "Traceback" not in output


def test_check_names_a_missing_app_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zdm.toml"
    write_config(path, tmp_path / "gone")
    code, output = run(monkeypatch, capsys, path, "check")
    assert code == 2 and f"app.root: the folder {tmp_path / 'gone'} does not exist" in output


def test_check_names_a_missing_pinned_lighthouse_report(
    tmp_path: Path, app_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zdm.toml"
    write_config(path, app_root, '[lighthouse]\nbaseline = "pinned"\npinned_reports = ["lh/menu.json"]\n')
    code, output = run(monkeypatch, capsys, path, "check")
    assert code == 2 and "lighthouse.pinned_reports lh/menu.json: no such file" in output


def test_check_connect_reaches_the_databases_and_slack_and_says_which_fails(
    tmp_path: Path,
    app_root: Path,
    dbs: Databases,
    slack: SlackEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "zdm.toml"
    write_config(path, app_root)
    monkeypatch.setenv("ZDM_STATE_DATABASE_URL", dbs.state_url)
    monkeypatch.setenv("ZDM_TARGET_DATABASE_URL", dbs.target_url)
    monkeypatch.setenv("ZDM_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("ZDM_SLACK_BOT_TOKEN", slack.token)
    code, output = run(monkeypatch, capsys, path, "check", "--connect")
    assert code == 0, output
    assert "state database (ZDM_STATE_DATABASE_URL): ok" in output and "Slack auth.test: ok" in output

    monkeypatch.setenv("ZDM_SLACK_BOT_TOKEN", "xoxb-wrong")
    monkeypatch.setenv("ZDM_TARGET_DATABASE_URL", "postgresql://zdm@127.0.0.1:1/nowhere?connect_timeout=2")
    code, output = run(monkeypatch, capsys, path, "check", "--connect")
    assert code == 2
    assert "target database (ZDM_TARGET_DATABASE_URL): could not connect:" in output
    assert "Slack auth.test: Slack refused the bot token" in output


def test_check_connect_reaches_github_and_pagerduty_with_the_configured_credentials(
    tmp_path: Path,
    app_root: Path,
    github: GitHubStandIn,
    pagerduty: PagerDutyStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "zdm.toml"
    write_config(path, app_root, '[release]\ngithub_repo = "icupa/app"\n')
    monkeypatch.setenv("ZDM_GITHUB_API_URL", github.url)
    monkeypatch.setenv("ZDM_GITHUB_TOKEN", github.token)
    monkeypatch.setenv("ZDM_PAGERDUTY_ROUTING_KEY", pagerduty.ROUTING_KEY)
    monkeypatch.setenv("ZDM_PAGERDUTY_EVENTS_URL", pagerduty.events_url)
    code, output = run(monkeypatch, capsys, path, "check", "--connect")
    assert code == 0 and "GitHub /repos/icupa/app/issues: ok" in output and "PagerDuty: ok" in output, output
    monkeypatch.setenv("ZDM_GITHUB_TOKEN", "ghp-wrong")
    code, output = run(monkeypatch, capsys, path, "check", "--connect")
    assert code == 2 and "GitHub /repos/icupa/app/issues: " in output and "answered HTTP 401" in output, output


def test_start_up_failures_are_one_sentence_and_exit_2(
    tmp_path: Path, app_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zdm.toml"
    write_config(path, app_root)
    monkeypatch.setenv("ZDM_STATE_DATABASE_URL", "postgresql://zdm@127.0.0.1:1/state?connect_timeout=2")
    monkeypatch.setenv("ZDM_TARGET_DATABASE_URL", "not a url")
    code, output = run(monkeypatch, capsys, path, "serve")
    assert code == 2 and output.count("\n") == 1 and "not a valid database URL" in output, output
    monkeypatch.setenv("ZDM_TARGET_DATABASE_URL", "postgresql://zdm@127.0.0.1:1/target?connect_timeout=2")
    code, output = run(monkeypatch, capsys, path, "shell", "-c", "help")
    assert code == 2 and "could not connect to a database at start-up" in output and "Traceback" not in output
    code, output = run(monkeypatch, capsys, path, "demo", "--script", str(tmp_path / "missing.txt"))
    assert code == 2 and output.strip() == f"zdm: --script {tmp_path / 'missing.txt'}: no such file"
