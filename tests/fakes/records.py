"""The rollback log file (``commands.rollback.ports.RollbackLogFile``) in memory: one entry per marker."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MemoryLogFile:
    entries: dict[str, str] = field(default_factory=dict)

    def append(self, *, marker: str, text: str, subject: str | None = None) -> str:
        if marker in self.entries:
            return "already recorded"
        self.entries[marker] = text
        return "recorded"
