"""``/zdm alerts`` declared once: no arguments (``list`` and ``status`` are read as the same command, unshown)."""

from __future__ import annotations

from commands.cli.grammar import Grammar, Parsed, Sub


def _nothing(parsed: Parsed) -> None:
    """The command lists firing and recent alerts; there is nothing to choose."""


ALERTS_ARGS = Grammar("alerts", (Sub("", aliases=("list", "status")),), _nothing)
