"""``/zdm rollback …`` declared once: its subcommands, usage line and the typed request they parse to."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Arg, Grammar, Option, Parsed, Rest, Sub, matching
from commands.errors import InvalidSlug, UsageError
from commands.rollback.model import MAX_REASON, SLUG, VERSION, RollbackRequest
from commands.text import whole_number


@dataclass(frozen=True)
class RollbackCancel:
    """``cancel <id>``: skip the schema step rollback ``rollback_id`` waits for."""

    rollback_id: int


def _no_comment_markers(text: str) -> str:
    """The reason is written to markdown too: it cannot open or close an HTML comment (the log's markers)."""
    return text.replace("<!--", " ").replace("-->", " ")


def _rollback_number(word: str) -> int | None:
    return whole_number(word.removeprefix("#"))


def _request(parsed: Parsed) -> RollbackRequest | RollbackCancel:
    if parsed.sub == "cancel":
        rollback_id = parsed.number("id")
        assert rollback_id is not None  # a required argument
        return RollbackCancel(rollback_id)
    slug = parsed.text("slug")
    assert slug is not None  # a required argument
    return RollbackRequest(slug=slug, reason=parsed.rest or "(no reason given)", schema_version=parsed.text("--schema"))


SCHEMA = Option(
    "--schema", "VERSION", "a migration version of digits", "20250301120000", convert=matching(VERSION.pattern)
)
ROLLBACK_ARGS = Grammar(
    "rollback",
    (
        Sub(
            "tenant",
            "pilot_a --schema 20250301120000 checkout errors",
            args=(Arg("slug", matching(SLUG.pattern), invalid=lambda word: InvalidSlug(slug=word)),),
            flags=(SCHEMA,),
            rest=Rest("reason", limit=MAX_REASON, clean=_no_comment_markers),  # shown in Slack and the rollback log
        ),
        Sub("cancel", "2", args=(Arg("id", _rollback_number, hint="a rollback number"),)),
    ),
    _request,
    loose_quotes=True,  # an on-call's reason may hold an apostrophe ("customer's checkout is down")
)


def parse_rollback_args(text: str) -> RollbackRequest:
    """``tenant <slug> [--schema VERSION] [reason…]`` (the words after ``/zdm rollback``)."""
    request = ROLLBACK_ARGS.parse(text)
    if not isinstance(request, RollbackRequest):
        raise UsageError(f"Use `/zdm rollback {ROLLBACK_ARGS.sub('tenant').usage}`.")
    return request


def parse_rollback_cancel(text: str) -> int:
    """The rollback number of ``cancel <id>``."""
    request = ROLLBACK_ARGS.parse(text)
    if not isinstance(request, RollbackCancel):
        raise UsageError(f"Use `/zdm rollback {ROLLBACK_ARGS.sub('cancel').usage}`.")
    return request.rollback_id
