"""The declarative ``/zdm`` grammar: one declaration gives the usage line ``/zdm help`` shows, the parser, and the
sentences that explain a mistake; every declared subcommand parses its own example."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.listeners.registry import CommandContext, CommandRegistry, Reply
from commands.backfill.args import BACKFILL_ARGS, BackfillRequest
from commands.breakglass.model import split_break_glass
from commands.checklist.args import CHECKLIST_ARGS
from commands.cleanup.args import CLEANUP_ARGS
from commands.cli.grammar import Apart, Arg, Grammar, Option, Parsed, Ref, Rest, Sub, Switch, matching
from commands.errors import UsageError, UserError
from commands.outbox.args import LOG_ARGS, LogRequest
from commands.queue.args import QUEUE_ARGS, QueueRequest
from commands.records.args import ARCHIVE_ARGS, NOTES_ARGS, ArchiveRequest
from commands.rollback.args import ROLLBACK_ARGS, RollbackCancel, parse_rollback_args, parse_rollback_cancel
from commands.rollback.model import RollbackRequest
from commands.rollout.args import ROLLOUT_ARGS, RolloutRequest, parse_rollout_args, parse_rollout_break_glass
from commands.schema.args import SCHEMA_ARGS, SchemaRequest

GRAMMARS: list[Grammar[Any]] = [
    ROLLOUT_ARGS, BACKFILL_ARGS, ROLLBACK_ARGS, SCHEMA_ARGS, QUEUE_ARGS, CHECKLIST_ARGS, CLEANUP_ARGS, NOTES_ARGS,
    ARCHIVE_ARGS, LOG_ARGS,
]  # fmt: skip
TYPED = {"rollout": RolloutRequest, "backfill": BackfillRequest, "schema": SchemaRequest}
WORDS = st.sampled_from(
    ["start", "status", "set", "batch-size", "tenant", "cancel", "approve", "--plan", "--schema", "--release",
     "--override", "--include-all", "--max-speed", "--break-glass", "#", "#1", "#²", "3", "pilot_a", '"', "'",
     "<!channel>", "-p", "--plan=", "x" * 400]
)  # fmt: skip


def example_of(grammar: Grammar[Any], sub: Sub) -> object:
    rest, reason = split_break_glass(f"{sub.name} {sub.example}")
    return grammar.parse(rest, apart=("--break-glass",) if reason is not None else ())


@pytest.mark.parametrize("grammar", GRAMMARS, ids=lambda g: g.command)
def test_every_declared_subcommand_parses_its_example_to_the_typed_request(grammar: Grammar[Any]) -> None:
    for sub in grammar.subs:
        request = example_of(grammar, sub)
        if grammar.command == "rollback":
            assert isinstance(request, RollbackCancel if sub.name == "cancel" else RollbackRequest), sub.name
        elif grammar.command == "queue":
            assert request == (QueueRequest("cancel", item_id=3) if sub.name else QueueRequest("list", env="staging"))
        elif grammar in (CHECKLIST_ARGS, CLEANUP_ARGS, NOTES_ARGS):
            assert request == "tenant-profiles"
        elif grammar is ARCHIVE_ARGS:
            assert request == ArchiveRequest("tenant-profiles", verify=sub.name == "verify")
        elif grammar is LOG_ARGS:
            assert request == LogRequest(count=3)
        else:
            assert isinstance(request, TYPED[grammar.command]), sub.name
            assert getattr(request, "action") == sub.name.split()[0], sub.name  # noqa: B009
        assert sub.usage.startswith(sub.name) and f"{sub.usage}`" in grammar.use()


def test_examples_fill_the_request_fields() -> None:
    assert example_of(ROLLOUT_ARGS, ROLLOUT_ARGS.sub("start")) == RolloutRequest(
        "start", flag="checkout.v2", plan="runbook"
    )
    assert example_of(ROLLOUT_ARGS, ROLLOUT_ARGS.sub("approve")) == RolloutRequest("approve", rollout_id=3)
    assert example_of(BACKFILL_ARGS, BACKFILL_ARGS.sub("set batch-size")) == BackfillRequest(
        "set", run_id=3, batch_size=500
    )
    assert example_of(SCHEMA_ARGS, SCHEMA_ARGS.sub("deploy")) == SchemaRequest("deploy", env="staging", release=42)
    assert example_of(ROLLBACK_ARGS, ROLLBACK_ARGS.sub("tenant")) == RollbackRequest(
        "pilot_a", "checkout errors", "20250301120000"
    )
    assert parse_rollback_cancel("cancel #2") == 2


def test_the_help_usage_is_the_declarations_usage() -> None:
    registry = CommandRegistry()

    def handler(ctx: CommandContext) -> Reply:
        """Does one thing."""
        return Reply(text="")

    for grammar in GRAMMARS:
        registry.command(grammar.command, grammar=grammar)(handler)
    shown = "\n".join(registry.help_lines())
    for grammar in GRAMMARS:
        assert f"`/zdm {grammar.command} {grammar.usage}`\n    Does one thing." in shown
    assert ROLLBACK_ARGS.usage == "tenant <slug> [--schema VERSION] [reason…] | cancel <id>"
    assert ROLLOUT_ARGS.sub("approve").usage == 'approve [#id] --break-glass "<reason>"'
    assert (QUEUE_ARGS.usage, CHECKLIST_ARGS.usage) == ("[env] | cancel Q<n>", "<release>")
    assert ARCHIVE_ARGS.usage == "<release> | verify <release>"
    assert LOG_ARGS.parse("ab12") == LogRequest(entry="ab12") and LOG_ARGS.parse("²") == LogRequest(entry="²")


def test_mistakes_are_explained_from_the_declaration() -> None:
    cases = [
        ("rollout", "", ROLLOUT_ARGS.use()),
        ("rollout", "list all", "`/zdm rollout list` takes no arguments."),
        ("rollout", "resume go", "`/zdm rollout resume` takes at most a rollout number, e.g. `/zdm rollout resume #3`"),
        ("rollout", "status --plan", "`--plan` does not apply to `/zdm rollout status`; use `/zdm rollout status"),
        ("rollout", "approve #3", '`/zdm rollout approve` needs `--break-glass "<reason>"`, e.g. `--break-glass "KPI'),
        ("rollout", "start --plan=", "`--plan` needs a plan name from zdm.toml, e.g. `--plan runbook`."),
        ("rollout", 'pause "unclosed', "Could not read the arguments (No closing quotation); check your quotes."),
        ("rollout", "pause " + "x" * 301, "The reason is too long (301 characters); keep it under 300."),
        ("backfill", "set batch-size", "Use `/zdm backfill set batch-size N [#id]`, e.g. `/zdm backfill set"),
        ("backfill", "status #x", "`#x` is not a run number; write it like `#3`."),
        ("rollback", "cancel 1 2", "Unexpected `2`; use `/zdm rollback cancel <id>`, e.g. `/zdm rollback cancel 2`"),
        ("queue", "cancel", "Use `/zdm queue cancel Q<n>`, e.g. `/zdm queue cancel Q3`."),
        ("checklist", "", "Use `/zdm checklist <release>`."),
        ("archive", "", "Use `/zdm archive <release>` or `verify <release>`."),
        ("log", "1 2", "Unexpected `2`; use `/zdm log [count | <entry id>]`, e.g. `/zdm log 3`."),
        ("cleanup", "plan", "Use `/zdm cleanup plan <release> [--break-glass"),
        ("schema", "plan a b", "Unexpected `b`; use `/zdm schema plan <env> [--include-all]`, e.g. `/zdm schema plan"),
    ]  # fmt: skip
    by_name = {g.command: g for g in GRAMMARS}
    for command, text, said in cases:
        with pytest.raises(UsageError) as caught:
            by_name[command].parse(text)
        assert str(caught.value).startswith(said), (command, text, str(caught.value))
    with pytest.raises(UsageError, match="does not apply to `/zdm rollout start`"):
        parse_rollout_break_glass("start")


def test_free_text_is_escaped_and_loose_quotes_are_kept_where_declared() -> None:
    assert parse_rollout_args("abort #2 <!channel> & co").reason == "&lt;!channel&gt; &amp; co"
    assert parse_rollout_args("pause 4 flaky").rollout_id == 4  # a bare number where the grammar says so
    said = parse_rollback_args("tenant pilot_a customer's checkout is down")
    assert said.reason == "customer's checkout is down"
    assert BACKFILL_ARGS.parse("start prod --override <@U1> said so").reason == "&lt;@U1&gt; said so"


def test_a_small_declaration_reads_options_in_both_spellings() -> None:
    grammar = Grammar(
        "demo",
        (
            Sub(
                "go",
                "north --speed 3",
                args=(Arg("where", matching("[a-z]+")),),
                flags=(Option("--speed", "N", "a speed", "3", convert=int_or_none), Switch("--fast")),
                ref=Ref("trip"),
            ),
            Sub("say", "hello", rest=Rest("words", limit=10)),
            Sub("help", flags=(Apart("--why", '"<reason>"', '"because"'),)),
        ),
        lambda parsed: parsed,
    )
    assert grammar.usage == 'go <where> [--speed N] [--fast] [#id] | say [words…] | help [--why "<reason>"]'
    parsed = grammar.parse("GO --speed=4 north #7 --fast")
    assert parsed == Parsed("go", {"--speed": 4, "where": "north"}, frozenset({"--fast"}), 7, "")
    assert grammar.parse("say hi there").rest == "hi there"
    with pytest.raises(UsageError, match="`--speed` needs a speed"):
        grammar.parse("go north --speed fast")


def int_or_none(word: str) -> int | None:
    return int(word) if word.isdigit() else None


@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=6))
def test_any_words_parse_or_get_one_sentence(words: list[str]) -> None:
    for grammar in GRAMMARS:
        try:
            grammar.parse(" ".join(words))
        except UserError as exc:
            assert str(exc) and "\n" not in str(exc) and str(exc).rstrip()[-1] in ".)`", str(exc)
