"""Migration job failures go to the release channel (runbook §5): what failed, where, the error, what to run next."""

from __future__ import annotations

from commands.cards import Card


def failure_card(*, what: str, where: str, error: str, next_command: str) -> Card:
    return Card(title=f"❌ {what} failed", lines=(f"*Where:* {where}", f"*Error:* {error}", f"*Next:* {next_command}"))
