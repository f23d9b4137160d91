"""What the schema stage needs from the outside: each environment's database and the deploy records (shared
ports are in ``commands.ports``), and ``SchemaPorts``, everything the stage is built with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from commands.outbox.service import OutboxService
from commands.ports import (
    AuditLog,
    Clock,
    CommandRunner,
    IssueTracker,
    JobFailures,
    Linter,
    Notifier,
    ReleaseGate,
    RoleDirectory,
)
from commands.queue.ports import WorkQueue
from commands.readiness.ports import ReadinessCheck
from commands.repository.ports import Repository
from commands.schema.history import MigrationFile
from commands.schema.model import BootstrapResult, Deploy


class SchemaTarget(Protocol):
    """One deploy environment's database."""

    def applied(self) -> dict[str, str]:
        """version → name from the Supabase CLI's history table (empty when it does not exist yet)."""
        ...

    def apply(self, files: Sequence[MigrationFile], *, lock_timeout_ms: int) -> list[str]: ...

    def bootstrap(
        self,
        files: Sequence[MigrationFile],
        *,
        seed: Path | None,
        lock_timeout_ms: int,
        prelude: str | None = None,
        rollbacks: Mapping[str, Path] | None = None,
    ) -> BootstrapResult:
        """Apply ``prelude`` and every file from zero in a clean database (a scratch one dropped afterwards, or
        the emptied shadow database) and report the first failure; each version in ``rollbacks`` round-trips
        (the migration, its rollback, the migration again)."""
        ...


class SchemaDeploys(Protocol):
    def create(self, deploy: Deploy) -> Deploy: ...

    def save(self, deploy: Deploy) -> None: ...

    def get(self, deploy_id: int) -> Deploy | None: ...

    def active(self, env: str) -> Deploy | None: ...

    def applying(self) -> list[Deploy]: ...

    def recent(self, *, limit: int, env: str | None = None) -> list[Deploy]: ...

    def exclusive(self, env: str, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...


@dataclass(frozen=True)
class SchemaPorts:
    clock: Clock
    targets: Mapping[str, SchemaTarget]  # per environment that has a database
    deploys: SchemaDeploys
    linter: Linter
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    failures: JobFailures
    runner: CommandRunner
    issues: IssueTracker | None  # None: no GitHub configured, the release record is skipped with a note
    checklist: ReleaseGate | None = None  # warns (or refuses) while a release's pre-migration checklist is open
    repository: Repository | None = None  # None: the files in app.root (no commit)
    readiness: ReadinessCheck | None = None  # rollback readiness on the deploy card; a failed check blocks approval
    queue: WorkQueue | None = None  # one schema deploy, backfill or schema rollback per database at a time
    outbox: OutboxService | None = None  # the release issue's DB Changes line: stored first, delivered by the outbox
