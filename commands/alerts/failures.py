"""Migration job failures go to the release channel (runbook §5): what failed, where, the error, what to run next."""

from __future__ import annotations

from commands.cards import Card
from commands.ports import Notifier


def failure_card(*, what: str, where: str, error: str, next_command: str) -> Card:
    return Card(title=f"❌ {what} failed", lines=(f"*Where:* {where}", f"*Error:* {error}", f"*Next:* {next_command}"))


class ReleaseChannelFailures:
    def __init__(self, notifier: Notifier, *, channel: str) -> None:
        self._notifier = notifier
        self._channel = channel

    def report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        self._notifier.post(self._channel, failure_card(what=what, where=where, error=error, next_command=next_command))
