from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.dedup import read_only, request_identity
from commands.adapters.command_runner import SubprocessRunner
from commands.adapters.rollback_log import MarkdownRollbackLog
from commands.argv import expand_argv
from commands.config import load_config
from commands.errors import ConfigError
from commands.schema.history import list_migrations, split_statements


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zdm.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_runbook(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.flag.name == "tenant.enableNewProfile" and config.flag.backend == "postgres"
    assert config.channels.release == "#release"
    assert config.rollback.restore_sql == "select sp_restore_legacy_tenant_views();"
    assert config.rollback.smoke_argv == ("pnpm", "--filter", "web", "test:e2e", "--", "--grep", "tenancy")
    assert config.rollback_log_path == tmp_path / "docs/runbooks/rollback-log.md"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rollback]\nsmoke_timeout_s = 0", "zdm.toml: rollback.smoke_timeout_s: Input should be greater than 0"),
        ('[roles]\noncall = ["alice"]', "zdm.toml: roles.oncall: Value error, 'alice' is not a Slack user id"),
        ('[flag]\nbackend = "redis"', "zdm.toml: flag.backend: Input should be 'postgres' or 'command'"),
        ("[rollbak]\n", "zdm.toml: rollbak: Extra inputs are not permitted"),
        ('[flag]\ntable = "x; drop"', "zdm.toml: flag.table: String should match pattern"),
        ("[flag\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ZDM_CONFIG_PATH"):
        load_config(tmp_path / "nope.toml")


def test_argv_expansion_never_splits_or_shells() -> None:
    argv = expand_argv(["pnpm", "flags:disable", "{flag}", "--tenant={tenant}"], flag="f", tenant="a b;rm -rf /")
    assert argv == ["pnpm", "flags:disable", "f", "--tenant=a b;rm -rf /"]
    assert expand_argv(["{python}"]) == [sys.executable]


def test_runner_keeps_tail_and_kills_on_timeout() -> None:
    runner = SubprocessRunner()
    code = "import sys\nfor i in range(100): print(i)\nsys.exit(4)"
    result = runner.run([sys.executable, "-c", code], timeout_s=30)
    assert result.exit_code == 4 and not result.ok and result.output_tail.splitlines()[-1] == "99"
    assert len(result.output_tail.splitlines()) == 40
    slow = runner.run([sys.executable, "-c", "import time; print('start', flush=True); time.sleep(60)"], timeout_s=0.5)
    assert slow.timed_out and "start" in slow.output_tail
    missing = runner.run(["/nonexistent/tool"], timeout_s=1)
    assert missing.error and missing.exit_code is None


def test_rollback_log_appends_once_per_marker(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "rollback-log.md"
    log = MarkdownRollbackLog(path)
    assert log.append(marker="<!-- 1 -->", text="<!-- 1 -->\nentry one\n")
    assert not log.append(marker="<!-- 1 -->", text="<!-- 1 -->\nentry one again\n")
    path.write_text(path.read_text() + "hand-written notes")
    assert log.append(marker="<!-- 2 -->", text="<!-- 2 -->\nentry two\n")
    text = path.read_text()
    assert text.startswith("# Rollback log") and text.count("entry one") == 1
    assert "hand-written notes\n\n<!-- 2 -->" in text


def test_split_statements_respects_quotes_dollar_quotes_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    create table t (a text default 'x;y');
    create function f() returns int language plpgsql as $$ begin return 1; end; $$;
    /* block; comment */ insert into t values ('it''s; fine');
    """
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[1].endswith("$$ begin return 1; end; $$")


def test_demo_migrations_list_skips_rollback_pairs(demo_app: Path) -> None:
    root = demo_app / "supabase" / "migrations"
    names = [m.name for m in list_migrations(root)]
    assert names[0] == "core_tenants" and not any(n.endswith("_rollback") for n in names)


def test_request_identity() -> None:
    assert request_identity({"command": "/zdm", "trigger_id": "t1"}) == ("command", "trigger:t1")
    assert request_identity({"type": "block_actions", "trigger_id": "t2"}) == ("block_actions", "trigger:t2")
    assert request_identity({"event_id": "Ev1", "type": "event_callback"}) == ("event", "event:Ev1")
    assert request_identity({"type": "url_verification"}) is None


def test_only_pure_reads_skip_the_request_ledger() -> None:
    def zdm(text: str) -> dict[str, str]:
        return {"command": "/zdm", "text": text, "trigger_id": "t1"}

    for text in ("", "help", "tenants pilot_*", "rollout status", "Rollout STATUS #3", "rollout list"):
        assert read_only(zdm(text)), text
    for text in ("rollout start", "rollout", "rollout status --break-glass x", "rollback tenant a why", "queue"):
        assert not read_only(zdm(text)), text
    assert not read_only({"type": "block_actions", "trigger_id": "t2"})


def test_child_commands_never_see_zdm_or_slack_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZDM_SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    code = "import os; print(sorted(k for k in os.environ if 'SLACK' in k or k.startswith('ZDM')), os.environ['X'])"
    result = SubprocessRunner().run([sys.executable, "-c", code], timeout_s=30, env={"X": "given"})
    assert result.output_tail == "[] given"
