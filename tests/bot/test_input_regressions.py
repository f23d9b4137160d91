"""Each input that ended in an internal error, a bypass or an unescaped post in issue 17, through signed requests to
the real Bolt app: now one sentence (and an audit row for a refusal), and what a person wrote is shown as written."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from bot.signing import block_action_body, sign, slash_command_body, view_submission_body
from commands.backfill.args import parse_backfill_args
from commands.cleanup.views import APPROVE_ACTION as CLEANUP_APPROVE
from commands.config import RunbookConfig
from commands.errors import ConfigError, UsageError
from commands.rollback.args import parse_rollback_args
from commands.rollback.views import CONFIRM_ACTION as ROLLBACK_CONFIRM
from commands.rollout.args import parse_rollout_args
from commands.rollout.config import parse_duration
from commands.rollout.views import DENY_ACTION
from commands.schema.args import parse_schema_args
from commands.schema.views import APPROVE_ACTION as SCHEMA_APPROVE
from commands.text import slack_escape, whole_number
from tests.bot.conftest import Cadence, approve, card_text, prompt_for
from tests.conftest import APPROVER, APPROVER2, ONCALL, SECRET, STRANGER, BotServer, Databases, write_config

HUGE = "9" * 4301  # int() of more than 4,300 digits raises


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    """The tests' config, letting on-call tune a backfill so the batch-size parser is reached past the permissions."""
    return write_config(tmp_path / "zdm.toml", app_root, extra='\n[permissions]\n"backfill set" = ["oncall"]\n')


def reply(bot: BotServer, text: str, *, user: str = ONCALL) -> str:
    response = bot.command(text, user=user)
    assert response.status_code == 200
    said = str(response.json()["text"])
    assert "internal error" not in said, said
    return said


def click(bot: BotServer, action: str, value: object, *, user: str = ONCALL) -> str:
    """A button press whose value is anything a payload can carry; returns the sentence sent back after the ack."""
    body = block_action_body(
        user_id=user,
        action_id=action,
        value="",
        channel_id="C0RELEASE",
        message_ts="1700000000.000100",
        response_url=bot.slack.response_url("click"),
    )
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["actions"][0]["value"] = value
    before = len(bot.responses())
    assert bot.post(sign(SECRET, urlencode({"payload": json.dumps(payload)}))).status_code == 200
    bot.settle()
    [said] = bot.responses()[before:]
    return said


def refusals(dbs: Databases, actor: str) -> list[tuple[str, str, str]]:
    with dbs.state() as conn:
        rows = conn.execute(
            "select action, subject, detail->>'reason' from zdm.audit_log where actor = %s and outcome = 'refused'",
            (actor,),
        ).fetchall()
    return [(str(a), str(s), str(r)) for a, s, r in rows]


def test_superscript_digits_and_huge_numbers_get_one_sentence(bot: BotServer) -> None:
    assert reply(bot, "schema status #²").startswith("`#²` is not a deploy number; write it like `#3`.")
    assert reply(bot, "schema status --release ²").startswith("`--release` does not apply to `/zdm schema status`")
    assert reply(bot, "backfill status #²") == "`#²` is not a run number; write it like `#3`."
    assert reply(bot, "backfill set batch-size ²").startswith("`²` is not a positive whole number")
    assert reply(bot, f"backfill status #{HUGE}").startswith("zdm cannot read this command: it is 4,318 characters")
    assert reply(bot, f"backfill status #{HUGE[:3000]}").startswith("`#99999")
    assert reply(bot, f"schema status #{HUGE[:3000]}").startswith("`#99999")
    assert reply(bot, "rollout status #" + "9" * 10).startswith("`#9999999999` is not a rollout number")


def test_parsers_read_numbers_of_any_length_without_raising() -> None:
    """Below the listener's 4,000-character cap too (the shell and tests call the parsers directly)."""
    with pytest.raises(UsageError, match="is not a run number"):
        parse_backfill_args(f"status #{HUGE}")
    with pytest.raises(UsageError, match="positive whole number"):
        parse_backfill_args(f"set batch-size {HUGE}")
    with pytest.raises(UsageError, match="is not a deploy number"):
        parse_schema_args(f"status #{HUGE}")
    with pytest.raises(UsageError, match="needs the release issue number"):
        parse_schema_args(f"deploy staging --release {HUGE}")
    with pytest.raises(UsageError, match="is not a rollout number"):
        parse_rollout_args(f"status #{HUGE}")
    with pytest.raises(UsageError, match="needs a migration version"):
        parse_rollback_args(f"tenant pilot_a --schema {HUGE}")


def test_button_values_that_zdm_did_not_write_are_stale(bot: BotServer) -> None:
    for action in (SCHEMA_APPROVE, CLEANUP_APPROVE, ROLLBACK_CONFIRM):
        for value in ("²", "²:abc", "1²", 7, None, ["1"], {"v": "1"}, "1:\udfff"):
            said = click(bot, action, value)
            assert said.startswith("This prompt is stale:") and said.endswith("Nothing was changed."), (action, said)


def test_a_strangers_command_with_a_nul_byte_is_refused_and_audited(bot: BotServer, dbs: Databases) -> None:
    said = reply(bot, "rollback tenant pilot_a check\x00out", user=STRANGER)
    assert said == (
        "zdm cannot read this command: it contains the control character U+0000. Nothing was changed; type it "
        "again without it."
    )
    assert refusals(dbs, STRANGER) == [("zdm.command", "rollback", "it contains the control character U+0000")]
    # without the NUL it is the usual role refusal, audited as before
    assert reply(bot, "rollback tenant pilot_a checkout", user=STRANGER).startswith("Only members of `oncall`")
    assert len(refusals(dbs, STRANGER)) == 2


def test_a_button_value_with_control_characters_is_refused_and_audited(bot: BotServer, dbs: Databases) -> None:
    said = click(bot, SCHEMA_APPROVE, "1:abc\x00", user=STRANGER)
    assert said.startswith("This prompt is stale: the button does not carry a value zdm wrote.")
    assert refusals(dbs, STRANGER) == [
        ("zdm.button", SCHEMA_APPROVE, "the value: it contains the control character U+0000")
    ]


def test_a_trailing_newline_does_not_make_a_flag_name_valid(bot: BotServer, dbs: Databases) -> None:
    said = reply(bot, 'rollout start "tenant.enableNewProfile\n"')
    assert said.startswith("Unexpected `tenant.enableNewProfile")
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.rollouts").fetchone() == (0,)


def test_a_cohort_slug_with_a_newline_is_refused_by_the_loader(tmp_path: Path, app_root: Path) -> None:
    plan = '[[rollout.plans.runbook]]\nname = "pilots"\nat = "0h"\nslugs = ["pilot_a\\n"]\n'
    with pytest.raises(ConfigError, match="is not a tenant slug or glob"):
        write_config(tmp_path / "zdm.toml", app_root, plan)


def test_pause_and_deny_reasons_are_posted_as_written_not_as_pings_or_links(
    bot: BotServer, cadence: Cadence, dbs: Databases
) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)
    disguised = "<!channel> see <https://evil.example|zdm.example.com> & co"
    assert reply(bot, f"rollout pause {disguised}").startswith("Pausing rollout #1")
    bot.settle()
    reply(bot, "rollout resume")
    bot.settle()
    cadence.at(timedelta(hours=12))
    bot.click(prompt_for(bot.slack, 2), DENY_ACTION, user=APPROVER2)
    bot.settle()
    [modal] = bot.slack.modals()
    assert modal.view is not None
    body = view_submission_body(
        user_id=APPROVER2, view=modal.view, values={"reason": {"reason_input": "<!here> <@U0ONCALL> broke it"}}
    )
    assert bot.post(sign(SECRET, body)).status_code == 200
    bot.settle()
    posted = [m.text + "\n" + card_text(m) for m in bot.slack.in_channel("#release")]
    everything = "\n".join(posted)
    assert "<!channel>" not in everything and "<https://evil" not in everything and "<!here>" not in everything
    assert "&lt;!channel&gt; see &lt;https://evil.example|zdm.example.com&gt; &amp; co" in everything
    assert "&lt;!here&gt; &lt;@U0ONCALL&gt; broke it" in everything


def test_bodies_over_a_mebibyte_are_refused_before_bolt(bot: BotServer) -> None:
    body = slash_command_body(text="help " + "x" * (1024 * 1024), user_id=ONCALL, response_url="http://127.0.0.1:9/")
    signed = sign(SECRET, body)
    response = httpx.post(bot.url + "/slack/events", content=signed.body, headers=signed.headers, timeout=10)
    assert response.status_code == 413
    assert reply(bot, "help").startswith("zdm — zero-downtime migrations from Slack")  # still serving


def test_unsigned_bodies_are_logged_by_size_and_hash_only(bot: BotServer, caplog: pytest.LogCaptureFixture) -> None:
    forged = "text=help%0A2026-12-05 INFO zdm forged line&user_id=U0EVIL"
    with caplog.at_level(logging.DEBUG):
        response = httpx.post(
            bot.url + "/slack/events",
            content=forged,
            headers={"content-type": "application/x-www-form-urlencoded", "x-slack-signature": "v0=00"},
            timeout=10,
        )
    assert response.status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "forged" not in logged and "U0EVIL" not in logged
    assert f"refused an unsigned request: {len(forged)} bytes, sha256 " in logged


def test_whole_numbers_are_ascii_digits_of_bounded_length() -> None:
    assert whole_number("42") == 42 and whole_number("0") == 0
    assert [whole_number(t) for t in ("²", "٣", "", "-1", "1 ", "1\n", HUGE, "9" * 10, None, 7)] == [None] * 10
    assert whole_number("9" * 18, max_digits=18) == int("9" * 18)


def test_slack_escape_does_not_escape_twice() -> None:
    assert slack_escape("<!channel> a&b") == "&lt;!channel&gt; a&amp;b"
    assert slack_escape("a &lt; b &amp; c") == "a &lt; b &amp; c"  # Slack already escaped a slash command's text


def test_durations_stay_within_representable_dates() -> None:
    for text in ("999999999d", "3651d", 10**30, float("inf")):
        with pytest.raises(ValueError, match=r"not a duration|longer than 3650 days"):
            parse_duration(text)
    assert parse_duration("7d") == timedelta(days=7)
