"""Rollout records (``commands.rollout.ports.RolloutRepository``) and zdm's exposure record
(``commands.rollout.exposure.ExposureRecord``) in memory, keeping the Postgres adapters' rules: one active rollout
per flag, a tenant is held out from its rollback until ``/zdm rollout include`` (and while the rollback is open)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from commands.errors import RolloutActive
from commands.rollout.exposure import Timeline
from commands.rollout.model import Rollout, RolloutStatus
from tests.fakes.rollbacks import MemoryRollbacks


@dataclass
class MemoryRollouts:
    rollbacks: MemoryRollbacks = field(default_factory=MemoryRollbacks)
    rows: dict[int, Rollout] = field(default_factory=dict)
    wake: dict[int, datetime | None] = field(default_factory=dict)
    includes: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # (flag, tenant, actor, at)
    stops: dict[int, str] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)  # held by another worker

    def create(self, rollout: Rollout) -> Rollout:
        active = [r.id for r in self.active() if r.flag == rollout.flag]
        if active:
            raise RolloutActive(flag=rollout.flag, rollout_id=active[0])
        created = replace(rollout, id=max(self.rows, default=0) + 1)
        self.rows[created.id] = created
        self.wake[created.id] = created.started_at  # due at once, like the adapter
        return created

    def save(self, rollout: Rollout, *, wake_at: datetime | None, durable: bool = True) -> None:
        if rollout.id in self.rows:
            self.rows[rollout.id] = rollout
            self.wake[rollout.id] = wake_at

    def get(self, rollout_id: int) -> Rollout | None:
        return self.rows.get(rollout_id)

    def recent(self, *, limit: int) -> list[Rollout]:
        return [self.rows[i] for i in sorted(self.rows, reverse=True)[:limit]]

    def active(self) -> list[Rollout]:
        return [self.rows[i] for i in sorted(self.rows) if self.rows[i].status.active]

    def due(self, now: datetime) -> list[int]:
        running = [i for i, r in self.rows.items() if r.status is RolloutStatus.RUNNING]
        due = [(wake, i) for i in running if (wake := self.wake.get(i)) is not None and wake <= now]
        return [i for _, i in sorted(due)]

    def next_wake(self) -> datetime | None:
        wakes = [w for i, r in self.rows.items() if r.status is RolloutStatus.RUNNING and (w := self.wake.get(i))]
        return min(wakes, default=None)

    @contextmanager
    def exclusive(self, rollout_id: int, *, wait_s: float = 0) -> Iterator[bool]:
        if rollout_id in self.locked:
            yield False
            return
        self.locked.add(rollout_id)
        try:
            yield True
        finally:
            self.locked.discard(rollout_id)

    def held(self, flag: str) -> dict[str, int]:
        held: dict[str, int] = {}
        for r in sorted(self.rollbacks.rows.values(), key=lambda r: (r.created_at, r.id)):
            included = any(f == flag and t == r.tenant and at >= r.created_at for f, t, _, at in self.includes)
            if r.flag == flag and (r.finished_at is None or not included):
                held[r.tenant] = r.id  # the newest such rollback of the tenant wins
        return held

    def with_held(self, rollout_id: int | None) -> list[tuple[Rollout, dict[str, int]]]:
        if rollout_id is not None:
            found = [self.rows[rollout_id]] if rollout_id in self.rows else []
        else:
            newest = max(self.rows, default=None)
            found = [r for n, r in sorted(self.rows.items()) if r.status.active or n == newest]
        return [(r, self.held(r.flag)) for r in found]

    def include(self, *, flag: str, tenant: str, actor: str, at: datetime) -> None:
        self.includes.append((flag, tenant, actor, at))

    def rollback_open(self, *, flag: str, tenant: str) -> bool:
        return any(
            r.flag == flag and r.tenant == tenant and r.finished_at is None for r in self.rollbacks.rows.values()
        )

    def request_stop(self, rollout_id: int, action: str | None) -> None:
        if action is None:
            self.stops.pop(rollout_id, None)
        else:
            self.stops[rollout_id] = action

    def stop_requested(self, rollout_id: int) -> str | None:
        return self.stops.get(rollout_id)


@dataclass
class MemoryFlagGuard:
    exposure: MemoryExposure
    flag: str

    def held(self) -> dict[str, int]:
        return self.exposure.rollouts.held(self.flag)

    def record(self, *, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None:
        self.exposure.record(flag=self.flag, tenants=tenants, enabled=enabled, actor=actor, at=at)


@dataclass
class MemoryExposure:
    rollouts: MemoryRollouts = field(default_factory=MemoryRollouts)
    enabled: dict[tuple[str, str], bool] = field(default_factory=dict)  # (flag, tenant) → on
    first_on: dict[str, datetime] = field(default_factory=dict)
    last_on: dict[str, datetime] = field(default_factory=dict)
    guarded: list[str] = field(default_factory=list)  # flags locked now (a flip's chunk in progress)

    @contextmanager
    def guard(self, flag: str) -> Iterator[MemoryFlagGuard]:
        self.guarded.append(flag)
        try:
            yield MemoryFlagGuard(self, flag)
        finally:
            self.guarded.remove(flag)

    def record(self, *, flag: str, tenants: Sequence[str], enabled: bool, actor: str, at: datetime) -> None:
        for tenant in tenants:
            self.enabled[(flag, tenant)] = enabled
        if tenants and enabled:
            self.first_on[flag] = min(at, self.first_on.get(flag, at))
            self.last_on[flag] = max(at, self.last_on.get(flag, at))

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        return {t for t in tenants if self.enabled.get((flag, t))}

    def timeline(self, flag: str) -> Timeline:
        return Timeline(self.first_on.get(flag), self.last_on.get(flag))
