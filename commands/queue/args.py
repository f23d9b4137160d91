"""``/zdm queue …`` declared once: its forms, usage line and the typed request they parse to."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Arg, Grammar, Parsed, Sub
from commands.text import whole_number


@dataclass(frozen=True)
class QueueRequest:
    action: str  # "list" or "cancel"
    env: str | None = None
    item_id: int | None = None


def _item_number(word: str) -> int | None:
    return whole_number(word.lstrip("#Qq"))


def _request(parsed: Parsed) -> QueueRequest:
    if parsed.sub == "cancel":
        return QueueRequest("cancel", item_id=parsed.number("item"))
    return QueueRequest("list", env=parsed.text("env"))


QUEUE_ARGS = Grammar(
    "queue",
    (
        Sub("", "staging", args=(Arg("env", optional=True),)),
        Sub("cancel", "Q3", args=(Arg("item", _item_number, hint="a queue item number", metavar="Q<n>"),)),
    ),
    _request,
)


def parse_queue_args(text: str) -> QueueRequest:
    return QUEUE_ARGS.parse(text)
