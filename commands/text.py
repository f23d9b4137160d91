"""What people type, read safely, and what they wrote, shown safely.

Every parser reads numbers with ``whole_number`` (ASCII digits only, a bounded length: ``'²'.isdigit()`` is true
and ``int('9' * 5000)`` raises), every command and button value is screened by ``unreadable`` (NUL, other control
characters, lone surrogates, oversized text), and every text a person wrote that zdm posts to Slack goes through
``slack_escape`` so ``<!channel>`` does not ping and ``<https://evil|zdm.example.com>`` does not disguise a link.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_COMMAND_CHARS = 4000  # Slack's own limit on a slash command's text
MAX_BUTTON_VALUE_CHARS = 2000  # Slack's own limit on a button value
ID_DIGITS = 9  # record ids (rollouts, rollbacks, backfills, deploys, cleanups) and issue numbers
_ENTITY = re.compile(r"&(?!(?:amp|lt|gt);)")
ALLOWED_CONTROLS = frozenset("\t\n\r")  # whitespace a person can type; every parser treats it as a word break


def whole_number(text: object, *, max_digits: int = ID_DIGITS) -> int | None:
    """``text`` as a non-negative whole number when it is 1..max_digits ASCII digits, else None."""
    if not isinstance(text, str) or not _digits(max_digits).fullmatch(text):
        return None
    return int(text)


@functools.cache
def _digits(most: int) -> re.Pattern[str]:
    return re.compile(rf"[0-9]{{1,{most}}}")


def unreadable(text: str, *, limit: int = MAX_COMMAND_CHARS) -> str | None:
    """Why ``text`` cannot be read as typed input (one clause), or None when it can."""
    if len(text) > limit:
        return f"it is {len(text):,} characters long (at most {limit:,})"
    for ch in text:
        if ch in ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"it contains the control character U+{ord(ch):04X}"
        if category == "Cs":
            return f"it contains an unpaired surrogate U+{ord(ch):04X}"
    return None


def printable(text: str, *, limit: int = 40) -> str:
    """``text`` made safe to echo in a sentence or to store as an audit subject: control characters and surrogates
    become ``?``, long text is cut with ``…``, and Slack's control sequences are escaped."""
    cleaned = "".join("?" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    cut = cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"
    return slack_escape(cut)


def slack_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's formatting rules ask, so text a person wrote shows as written:
    no ``<!channel>`` pings, ``<@U…>`` mentions or ``<url|label>`` links. Text Slack already escaped (a slash
    command's ``&lt;``) is not escaped twice."""
    return _ENTITY.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
