"""``/zdm log [count | <entry id>]`` declared once: its usage line and the typed request."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Arg, Grammar, Parsed, Sub
from commands.text import whole_number


@dataclass(frozen=True)
class LogRequest:
    count: int | None = None  # how many of the newest entries (None: the default)
    entry: str | None = None  # an entry id, or the start of one


def _request(parsed: Parsed) -> LogRequest:
    word = parsed.text("which")
    if word is None:
        return LogRequest()
    count = whole_number(word)
    return LogRequest(count=count) if count is not None else LogRequest(entry=word)


LOG_ARGS = Grammar(
    "log", (Sub("", "3", args=(Arg("which", optional=True, metavar="[count | <entry id>]"),)),), _request
)
