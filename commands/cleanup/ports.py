"""What the cleanup stage needs from the outside: its requests (shared ports are in ``commands.ports``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from commands.cleanup.model import Cleanup


class CleanupRepository(Protocol):
    def create(self, cleanup: Cleanup) -> Cleanup: ...

    def save(self, cleanup: Cleanup) -> None: ...

    def get(self, cleanup_id: int) -> Cleanup | None: ...

    def awaiting(self, release: str) -> Cleanup | None: ...

    def exclusive(self, cleanup_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        """A cross-replica lock on one cleanup, so two approvals at once are both kept."""
        ...
