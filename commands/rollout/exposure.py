"""Exposure: which tenants have a flag on, as zdm's own record, and the one rule every flip obeys.

The rule: a tenant with an open or held-out rollback is never enabled by any flip, on any flag backend, whatever
the interleaving. A flip enables a chunk of tenants only inside ``ExposureRecord.guard(flag)`` — a lock on the flag
that creating a rollback also takes — and re-reads the held-out tenants inside it, so a rollback that lands during
a flip wins: the tenants it names are skipped (and the flip says so) or, if already enabled before the rollback
was recorded, turned off again by the rollback's first step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from commands.ports import FlagStore


@dataclass(frozen=True)
class Timeline:
    """When zdm first and last turned ``flag`` on for any tenant (None: never)."""

    first_enabled_at: datetime | None = None
    last_enabled_at: datetime | None = None


class FlagGuard(Protocol):
    def held(self) -> dict[str, int]:
        """Tenants with an open or held-out rollback of the flag (tenant → rollback id), read under the lock."""
        ...

    def record(self, *, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None:
        """Record in zdm's exposure table, in the locked transaction, that ``tenants`` now have the flag on/off."""
        ...


class ExposureRecord(Protocol):
    def guard(self, flag: str) -> AbstractContextManager[FlagGuard]:
        """Hold the flag's lock (the one rollbacks take when they are recorded) for the ``with`` block."""
        ...

    def record(self, *, flag: str, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None: ...

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        """Which of ``tenants`` zdm last turned ``flag`` on for."""
        ...

    def timeline(self, flag: str) -> Timeline: ...


@dataclass
class GuardedFlip:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tenant, why): rolled back during the flip
    stopped: str | None = None  # "pause" / "abort" when a person stopped the flip between tenants


def guarded_enable(
    *,
    flags: FlagStore,
    exposure: ExposureRecord,
    flag: str,
    tenants: Sequence[str],
    actor: str,
    at: datetime,
    chunk: int,
    stop_requested: Callable[[], str | None],
    toggled: Callable[[Sequence[str]], None] | None = None,
) -> GuardedFlip:
    """Enable ``tenants`` ``chunk`` at a time, each chunk under the flag's lock with the held-out set re-read inside
    it; between chunks a pause or abort request stops the flip (the rest stays off). ``toggled`` is told each
    chunk's newly enabled tenants once the chunk is done (to log them while the next chunk flips)."""
    result = GuardedFlip()
    # A store that flips a whole chunk or raises lets the exposure record be written first, in the same locked
    # transaction (rolled back if the flip raises), so both databases work at once.
    record_first = bool(getattr(flags, "all_or_nothing", False))
    for start in range(0, len(tenants), max(1, chunk)):
        stop = stop_requested()
        if stop:
            result.stopped = stop
            return result
        part = tenants[start : start + max(1, chunk)]
        with exposure.guard(flag) as guard:
            held = guard.held()
            allowed = [t for t in part if t not in held]
            result.skipped += [(t, f"rolled back during the flip (rollback #{held[t]})") for t in part if t in held]
            if not allowed:
                continue
            if record_first:
                guard.record(tenants=allowed, enabled=True, actor=actor, at=at)
            outcome = flags.enable_many(flag=flag, tenants=allowed, actor=actor)
            if not record_first:
                guard.record(tenants=(*outcome.changed, *outcome.unchanged), enabled=True, actor=actor, at=at)
        result.changed += outcome.changed
        if toggled is not None and outcome.changed:
            toggled(outcome.changed)
        result.unchanged += outcome.unchanged
        result.failed += outcome.failed
    return result
