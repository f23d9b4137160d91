"""Fuzzing every ``/zdm`` subcommand, every button and the deny dialog through signed requests to the real Bolt app:
whatever a person (or a forged-but-signed payload) sends, the answer is a sentence, never an internal error, and
every refusal leaves an audit row. Bounded and derandomised, so it is a fixed, quick part of the suite."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.signing import block_action_body, sign, view_submission_body
from commands.checklist.views import BLOCK_PREFIX, TICK_ACTION
from commands.cleanup.views import APPROVE_ACTION as CLEANUP_APPROVE
from commands.rollback.views import CANCEL_ACTION as ROLLBACK_CANCEL
from commands.rollback.views import CONFIRM_ACTION as ROLLBACK_CONFIRM
from commands.rollout.views import APPROVE_ACTION as ROLLOUT_APPROVE
from commands.rollout.views import DENY_ACTION as ROLLOUT_DENY
from commands.rollout.views import DENY_VIEW
from commands.schema.views import APPROVE_ACTION as SCHEMA_APPROVE
from commands.schema.views import CANCEL_ACTION as SCHEMA_CANCEL
from tests.conftest import SECRET, STRANGER, BotServer, Databases

SUBCOMMANDS = [
    "help",
    "tenants",
    "alerts",
    "log",
    "backfill",
    "rollback",
    "rollout",
    "schema",
    "checklist",
    "cleanup",
    "notes",
    "archive",
    "queue",
]
# words the parsers look for, and the kinds of text that used to end in an internal error
TRICKY = [
    "start",
    "status",
    "pause",
    "resume",
    "abort",
    "cancel",
    "include",
    "list",
    "set",
    "batch-size",
    "deploy",
    "tenant",
    "pilot_a",
    "--schema",
    "--release",
    "--plan",
    "--override",
    "--include-all",
    "verify",
    "#",
    "#²",
    "²",
    "#٣",
    "#1",
    "#0",
    "9" * 4301,
    "#" + "9" * 30,
    "-1",
    "\x00",
    "check\x00out",
    "\n",
    "a\nb",
    "\x7f",
    "\u202e",
    "<!channel>",
    "<https://evil.example|zdm.example.com>",
    "&amp;",
    '"',
    "'",
    "*",
    "tenant.enableNewProfile\n",
    "pilot_*",
    "x" * 5000,
]
words = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
# a form-encoded slash command cannot carry a lone surrogate; a JSON payload (buttons, dialogs) can
payload_words = st.one_of(words, st.just("\ud800"), st.just("1:\udfff:x"))
FIRST_WORDS = {
    "backfill": ["start", "status", "pause", "resume", "cancel", "set batch-size"],
    "rollback": ["tenant", "tenant pilot_a"],
    "rollout": ["start", "status", "list", "pause", "resume", "abort", "include"],
    "schema": ["plan", "deploy", "status", "cancel", "status --release", "deploy staging --release"],
    "archive": ["verify"],
    "cleanup": ["plan"],
}
grammatical = st.sampled_from(SUBCOMMANDS).flatmap(
    lambda name: st.builds(
        lambda first, rest: " ".join([name, first, *rest]),
        st.sampled_from(FIRST_WORDS.get(name, [""])),
        st.lists(words, max_size=3),
    )
)
command_texts = st.one_of(
    grammatical,
    st.builds(lambda name, rest: " ".join([name, *rest]), st.text(max_size=8), st.lists(words, max_size=4)),
)
ACTIONS = [
    ROLLOUT_APPROVE,
    ROLLOUT_DENY,
    SCHEMA_APPROVE,
    SCHEMA_CANCEL,
    ROLLBACK_CONFIRM,
    ROLLBACK_CANCEL,
    CLEANUP_APPROVE,
]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), payload_words),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
button_values = st.one_of(
    payload_words,
    json_values,
    st.builds(lambda a, b, c: f"{a}:{b}:{c}", words, words, words),
    st.builds(lambda a, b: f"{a}:{b}", words, words),
)
FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INTERNAL = "internal error"
REFUSALS = ("Only members of", "zdm cannot read", "does not carry a value zdm wrote")


def refused_rows(dbs: Databases) -> int:
    with dbs.state() as conn:
        row = conn.execute("select count(*) from zdm.audit_log where outcome = 'refused'").fetchone()
        return int(row[0]) if row else 0


def check_round(bot: BotServer, dbs: Databases, before_rows: int, before_replies: int, ack: str) -> None:
    """No internal error in the ack or in a reply sent after it, and at least one refusal row per refusal."""
    bot.settle()
    said = [ack, *bot.responses()[before_replies:]]
    assert not any(INTERNAL in text for text in said), said
    refusals = sum(1 for text in said if any(r in text for r in REFUSALS))
    assert refused_rows(dbs) - before_rows >= refusals, said


def with_value(body: str, value: object) -> str:
    """A signed-ready block action body whose button value is any JSON value, as a forged payload could carry."""
    payload = json.loads(parse_qs(body)["payload"][0])
    payload["actions"][0]["value"] = value
    return urlencode({"payload": json.dumps(payload)})


@FUZZ
@given(text=command_texts)
@example(text="schema status #²")  # the cases of issue 17, always tried first
@example(text="schema status --release ²")
@example(text="backfill status #²")
@example(text="backfill set batch-size ²")
@example(text="rollback tenant pilot_a check\x00out")
@example(text=f"backfill status #{'9' * 3990}")
def test_every_subcommand_answers_any_text_with_a_sentence(bot: BotServer, dbs: Databases, text: str) -> None:
    rows, replies = refused_rows(dbs), len(bot.responses())
    response = bot.command(text, user=STRANGER)
    assert response.status_code == 200
    check_round(bot, dbs, rows, replies, response.text)


@FUZZ
@given(action=st.sampled_from(ACTIONS), value=button_values)
@example(action=SCHEMA_APPROVE, value="²:abc")
@example(action=CLEANUP_APPROVE, value=["1"])
@example(action=ROLLBACK_CONFIRM, value=7)
def test_every_button_answers_any_value_with_a_sentence(
    bot: BotServer, dbs: Databases, action: str, value: object
) -> None:
    rows, replies = refused_rows(dbs), len(bot.responses())
    body = block_action_body(
        user_id=STRANGER,
        action_id=action,
        value="",
        channel_id="C0RELEASE",
        message_ts="1700000000.000100",
        response_url=bot.slack.response_url("click"),
    )
    response = bot.post(sign(SECRET, with_value(body, value)))
    assert response.status_code == 200
    check_round(bot, dbs, rows, replies, response.text)


@FUZZ
@given(block=st.one_of(payload_words, json_values), selected=st.one_of(json_values, st.lists(json_values, max_size=3)))
def test_checklist_ticks_answer_any_payload_with_a_sentence(
    bot: BotServer, dbs: Databases, block: object, selected: object
) -> None:
    rows, replies = refused_rows(dbs), len(bot.responses())
    body = block_action_body(
        user_id=STRANGER,
        action_id=TICK_ACTION,
        value="",
        channel_id="C0RELEASE",
        message_ts="1700000000.000100",
        response_url=bot.slack.response_url("click"),
    )
    payload = json.loads(parse_qs(body)["payload"][0])
    action = payload["actions"][0]
    action["block_id"] = BLOCK_PREFIX + block if isinstance(block, str) else block
    action["selected_options"] = [{"value": item} for item in selected] if isinstance(selected, list) else selected
    response = bot.post(sign(SECRET, urlencode({"payload": json.dumps(payload)})))
    assert response.status_code == 200
    check_round(bot, dbs, rows, replies, response.text)


@FUZZ
@given(metadata=payload_words, reason=st.one_of(payload_words, st.none()))
def test_the_deny_dialog_answers_any_submission_with_a_sentence(
    bot: BotServer, dbs: Databases, metadata: str, reason: str | None
) -> None:
    rows = refused_rows(dbs)
    view = {"callback_id": DENY_VIEW, "private_metadata": metadata, "type": "modal"}
    body = view_submission_body(user_id=STRANGER, view=view, values={"reason": {"reason_input": reason or ""}})
    response = bot.post(sign(SECRET, body))
    assert response.status_code == 200
    bot.settle()
    assert INTERNAL not in response.text, response.text
    if any(r in response.text for r in REFUSALS):
        assert refused_rows(dbs) > rows


def test_the_fuzz_covers_every_subcommand_in_help(bot: BotServer) -> None:
    listed = set(re.findall(r"`/zdm ([a-z-]+)", bot.command("help").json()["text"]))
    assert listed == set(SUBCOMMANDS)
