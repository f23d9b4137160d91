"""Fakes for unit tests of models and services: a settable clock and in-memory ports."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands.cards import Card, MessageRef
from commands.ports import AuditEvent, CommandResult
from commands.rollback.model import Rollback


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


@dataclass
class MemoryFlags:
    state: dict[tuple[str, str], bool] = field(default_factory=dict)
    fail: bool = False

    def set_enabled(self, *, tenant: str, flag: str, enabled: bool, actor: str) -> str:
        if self.fail:
            raise RuntimeError("flag service unavailable")
        self.state[(tenant, flag)] = enabled
        return f"{flag} {'on' if enabled else 'off'} for {tenant}"

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        return {t for t in tenants if self.state.get((t, flag))}


@dataclass
class MemoryTarget:
    tenants: set[str] = field(default_factory=lambda: {"demo_icupa", "pilot_a", "pilot_b"})
    statements: list[str] = field(default_factory=list)
    applied_files: list[str] = field(default_factory=list)

    def tenant_exists(self, slug: str) -> bool:
        return slug in self.tenants

    def find_tenants(self, pattern: str, *, limit: int) -> list[str]:
        import fnmatch

        return sorted(t for t in self.tenants if fnmatch.fnmatch(t, pattern))[:limit]

    def run_sql(self, sql: str) -> str:
        self.statements.append(sql)
        return "done"

    def apply_rollback_file(self, path: Path, *, version: str, lock_timeout_ms: int, text: str | None = None) -> str:
        self.applied_files.append(path.name)
        return f"applied {path.name}"


@dataclass
class ScriptedRunner:
    exit_code: int = 0
    output: str = "all good"
    calls: list[tuple[list[str], Mapping[str, str] | None]] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> CommandResult:
        self.calls.append((list(argv), env))
        return CommandResult(tuple(argv), self.exit_code, self.output, 0.1)


@dataclass
class MemoryNotifier:
    posts: list[tuple[str, Card]] = field(default_factory=list)
    updates: list[tuple[MessageRef, Card]] = field(default_factory=list)

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        self.posts.append((channel, card))
        return MessageRef("C0RELEASE", f"1.{len(self.posts)}")

    def update(self, ref: MessageRef, card: Card) -> None:
        self.updates.append((ref, card))


@dataclass
class MemoryRoles:
    roles: dict[str, set[str]] = field(default_factory=dict)

    def has_role(self, user: str, role: str) -> bool:
        return user in self.roles.get(role, set())

    def members(self, role: str) -> Sequence[str]:
        return sorted(self.roles.get(role, set()))


@dataclass
class MemoryAudit:
    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent, *, at: datetime) -> None:
        self.events.append(event)

    def record_each(self, event: AuditEvent, subjects: Sequence[str], *, at: datetime) -> None:
        self.events.extend(replace(event, subject=subject) for subject in subjects)

    def actions(self) -> list[str]:
        return [e.action for e in self.events]


@dataclass
class MemoryLogFile:
    entries: dict[str, str] = field(default_factory=dict)

    def append(self, *, marker: str, text: str, subject: str | None = None) -> str:
        if marker in self.entries:
            return "already recorded"
        self.entries[marker] = text
        return "recorded"


@dataclass
class MemoryRollbacks:
    rows: dict[int, Rollback] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)

    def create(self, rollback: Rollback) -> Rollback:
        created = replace(rollback, id=len(self.rows) + 1)
        self.rows[created.id] = created
        return created

    def save(self, rollback: Rollback) -> None:
        self.rows[rollback.id] = rollback

    def get(self, rollback_id: int) -> Rollback | None:
        return self.rows.get(rollback_id)

    def record_decision(self, *, rollback_id: int, decision: str, actor: str, flag_off_all: bool = False) -> bool:
        row = self.rows.get(rollback_id)
        if row is None or row.schema_decision is not None or not row.schema_version or row.finished_at:
            return False
        self.rows[rollback_id] = replace(
            row,
            schema_decision=decision,  # type: ignore[arg-type]
            decided_by=actor,
            schema_flag_off_all=flag_off_all,
        )
        return True

    def unfinished(self) -> list[int]:
        return [i for i, r in self.rows.items() if r.finished_at is None]

    @contextmanager
    def exclusive(self, rollback_id: int, *, wait_s: float = 0) -> Iterator[bool]:
        if rollback_id in self.locked:
            yield False
            return
        self.locked.add(rollback_id)
        try:
            yield True
        finally:
            self.locked.discard(rollback_id)
