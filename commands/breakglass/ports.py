"""The break-glass service's ports: its records, and the gated actions it can run once confirmed."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from commands.breakglass.model import BreakGlass, BreakGlassStatus, Skip


class BreakGlassRepository(Protocol):
    def create(self, request: BreakGlass) -> BreakGlass:
        """Insert (``id`` ignored) and return it with its id."""
        ...

    def save(self, request: BreakGlass) -> None: ...

    def get(self, request_id: int) -> BreakGlass | None: ...

    def claim(self, request: BreakGlass, *, expected: BreakGlassStatus) -> bool:
        """Save ``request`` only if its stored status is still ``expected`` (one confirmation wins)."""
        ...

    def confirmed(self) -> list[BreakGlass]:
        """Requests confirmed whose action has not finished (running now, or interrupted by a crash)."""
        ...

    def exclusive(self, request_id: int) -> AbstractContextManager[bool]:
        """A cross-replica try-lock held while the confirmed action runs; yields False if another holds it."""
        ...


class GatedAction(Protocol):
    """An action whose gates break-glass can skip (a rollout step approval, a schema deploy, …)."""

    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        """Check who asks and what (``text``: the command's words without the option); say which gates the action
        would skip now. Raises a ``UserError`` when it cannot run or when nothing blocks it."""
        ...

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        """Run the action for ``actor`` (who asked) with its gates skipped; return what happened in one sentence."""
        ...
