"""What the rollout stage needs from the outside: its records and the backfill ledger (shared ports are in
``commands.ports``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from commands.rollout.model import Rollout


class RolloutRepository(Protocol):
    """Rollout records in the bot's state database (see ``commands.rollout.model.Rollout``)."""

    def create(self, rollout: Rollout) -> Rollout:
        """Insert (``id`` ignored); raise ``RolloutActive`` when the flag already has an active rollout."""
        ...

    def save(self, rollout: Rollout, *, wake_at: datetime | None, durable: bool = True) -> None:
        """``durable=False`` for bookkeeping that is safe to lose (e.g. when the KPIs were last read)."""
        ...

    def get(self, rollout_id: int) -> Rollout | None: ...

    def recent(self, *, limit: int) -> list[Rollout]: ...

    def active(self) -> list[Rollout]: ...

    def due(self, now: datetime) -> list[int]:
        """Running rollouts whose wake-up time has come."""
        ...

    def next_wake(self) -> datetime | None: ...

    def exclusive(self, rollout_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...

    def held(self, flag: str) -> dict[str, int]:
        """Tenants rolled back (tenant → rollback id) and not re-included since."""
        ...

    def with_held(self, rollout_id: int | None) -> list[tuple[Rollout, dict[str, int]]]:
        """In one read: rollout ``rollout_id`` (none if unknown) or, without one, every active rollout and the newest
        — each with its flag's ``held`` tenants."""
        ...

    def include(self, *, flag: str, tenant: str, actor: str, at: datetime) -> None: ...

    def rollback_open(self, *, flag: str, tenant: str) -> bool:
        """Whether a rollback of ``tenant`` for ``flag`` has not finished yet (it stays held out until it has)."""
        ...

    def request_stop(self, rollout_id: int, action: str | None) -> None:
        """Ask a flip running in another worker to stop between tenants (``None`` withdraws the request)."""
        ...

    def stop_requested(self, rollout_id: int) -> str | None: ...


class BackfillLedger(Protocol):
    def latest(self, *, job: str | None = None, env: str | None = None, status: str | None = None) -> object | None:
        """The newest backfill run matching all the given fields, if any."""
        ...
