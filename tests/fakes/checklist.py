"""Checklist ticks (``commands.checklist.ports.ChecklistTicks``) in memory: every tick and untick kept, the
latest wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from commands.checklist.model import Tick


@dataclass
class MemoryChecklistTicks:
    history: list[tuple[str, Tick]] = field(default_factory=list)  # (release, tick), oldest first

    def record(self, *, release: str, item: str, ticked: bool, actor: str, at: datetime) -> None:
        self.history.append((release, Tick(item, ticked, actor, at)))

    def latest(self, release: str) -> dict[str, Tick]:
        return {tick.item: tick for r, tick in self.history if r == release}
