"""What the rollback stage needs from the outside: its records and the rollback log (shared ports are in
``commands.ports``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from commands.rollback.model import Rollback


class RollbackLogFile(Protocol):
    def append(self, *, marker: str, text: str, subject: str | None = None) -> str:
        """Record ``text`` under its globally unique ``marker`` (durably, then delivered to the repository) unless
        that exact entry is already recorded; return one phrase saying where it is ("recorded; in PR #12")."""
        ...


class RollbackRepository(Protocol):
    """Rollback records in the bot's state database (see ``commands.rollback.model.Rollback``)."""

    def create(self, rollback: Rollback) -> Rollback:
        """Insert a new record (its ``id`` is ignored) and return it with the assigned id."""
        ...

    def save(self, rollback: Rollback) -> None: ...

    def get(self, rollback_id: int) -> Rollback | None: ...

    def record_decision(self, *, rollback_id: int, decision: str, actor: str, flag_off_all: bool = False) -> bool:
        """Store the schema decision once; False if it was already decided or is not awaited."""
        ...

    def unfinished(self) -> list[int]: ...

    def exclusive(self, rollback_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        """Hold a cross-process lock on one rollback (waiting up to ``wait_s``); yields False if another holds it."""
        ...
