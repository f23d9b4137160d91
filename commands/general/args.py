"""``/zdm help`` and ``/zdm tenants <pattern>`` declared once: their usage lines and what they read."""

from __future__ import annotations

from commands.cli.grammar import Arg, Grammar, Parsed, Sub, matching

ANY_TENANT = "*"
PATTERN = Arg(
    "pattern",
    matching(r"[a-z0-9_*?-]{1,63}"),
    absent_ok=True,  # no pattern: every tenant (the reply shows the first ones)
    hint="a slug pattern of lowercase letters, digits, `_`, `-`, `*` or `?`",
)


def _nothing(parsed: Parsed) -> None:
    """``/zdm help`` lists every command; there is nothing to choose."""


def _pattern(parsed: Parsed) -> str:
    return parsed.text(PATTERN.name) or ANY_TENANT


HELP_ARGS = Grammar("help", (Sub(""),), _nothing)  # its handler reads no words: `/zdm help me` still helps
TENANTS_ARGS = Grammar("tenants", (Sub("", "pilot_*", args=(PATTERN,)),), _pattern)


def parse_tenant_pattern(text: str) -> str:
    """The slug pattern of ``/zdm tenants <pattern>`` (``*`` when none is given)."""
    return TENANTS_ARGS.parse(text)
