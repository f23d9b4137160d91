"""What the checklist stage needs from the outside: the ticks people recorded (shared ports are in
``commands.ports``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from commands.checklist.model import Tick


class ChecklistTicks(Protocol):
    """Checklist items confirmed by people, in the bot's state database (history kept, latest wins)."""

    def record(self, *, release: str, item: str, ticked: bool, actor: str, at: datetime) -> None: ...

    def latest(self, release: str) -> dict[str, Tick]: ...
