"""What the rollback stage needs from the outside: its records and the rollback log (shared ports are in
``commands.ports``), and ``RollbackPorts``, everything the stage is built with."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from commands.ports import (
    AuditLog,
    Clock,
    CommandRunner,
    FlagStore,
    JobFailures,
    Notifier,
    OutageCheck,
    RoleDirectory,
    TargetDatabase,
)
from commands.queue.ports import WorkQueue
from commands.rollback.model import Rollback
from commands.rollout.exposure import ExposureRecord


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


@dataclass(frozen=True)
class RollbackPorts:
    clock: Clock
    flags: FlagStore
    target: TargetDatabase
    runner: CommandRunner
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    log_file: RollbackLogFile
    repo: RollbackRepository
    outage: OutageCheck  # tells "the state database went away" from other errors
    failures: JobFailures | None = None  # smoke-test failures also go to the release channel, folded
    exposure: ExposureRecord | None = None  # zdm's own record of who has the flag on
    queue: WorkQueue | None = None  # the schema step waits for work running on the target database (jumps the line)
