"""The small interfaces services depend on. Adapters implement them; tests may use in-memory versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from commands.cards import Card, MessageRef

if TYPE_CHECKING:
    from commands.alerts.model import AlertEvent
    from commands.backfill.model import BackfillRun
    from commands.checklist.model import Tick
    from commands.cleanup.model import Cleanup
    from commands.lighthouse.report import Report, Ticketed
    from commands.rollback.model import Rollback
    from commands.rollout.config import PlanStep
    from commands.rollout.gates import KpiReading
    from commands.rollout.model import Rollout
    from commands.schema.history import MigrationFile
    from commands.schema.lint import Finding
    from commands.schema.model import BootstrapResult, Deploy


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int | None
    output_tail: str
    duration_s: float
    timed_out: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None


class CommandRunner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> CommandResult: ...


@dataclass(frozen=True)
class FlipOutcome:
    """Result of enabling a flag for a cohort: who changed, who was already on, who failed (and why)."""

    changed: tuple[str, ...]
    unchanged: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


class FlagStore(Protocol):
    def set_enabled(self, *, tenant: str, flag: str, enabled: bool, actor: str) -> str:
        """Set the flag for one tenant (idempotent); return a short human description of what happened."""
        ...

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        """Which of ``tenants`` have the flag on now (empty when the backend cannot tell)."""
        ...

    def enable_many(self, *, flag: str, tenants: Sequence[str], actor: str) -> FlipOutcome:
        """Turn the flag on for every tenant (idempotent); one transaction where the backend allows it."""
        ...


class TargetDatabase(Protocol):
    """The application database being migrated (not the bot's own state)."""

    def tenant_exists(self, slug: str) -> bool: ...

    def find_tenants(self, pattern: str, *, limit: int) -> list[str]: ...

    def resolve_cohort(self, step: PlanStep, *, now: datetime) -> list[str]:
        """The existing tenants a plan step selects (slugs, glob, SQL query or all), sorted."""
        ...

    def run_sql(self, sql: str) -> str:
        """Run trusted SQL from zdm.toml in one transaction; return a short status description."""
        ...

    def apply_rollback_file(self, path: Path, *, version: str, lock_timeout_ms: int, text: str | None = None) -> str:
        """Apply a ``*_rollback.sql`` in one transaction and mark the version reverted in the history; ``text``
        (the file's content as pinned by the caller) is applied instead of reading ``path`` again."""
        ...


class MessageGone(Exception):
    """The message to update no longer exists (deleted, or its channel is gone)."""


class Notifier(Protocol):
    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef: ...

    def update(self, ref: MessageRef, card: Card) -> None:
        """Replace the message's content; raise ``MessageGone`` when it no longer exists."""
        ...


class FileUploads(Protocol):
    def upload(self, data: bytes, *, filename: str, title: str, alt_text: str) -> str:
        """Upload a file (a chart's PNG) where the chat's messages can show it; return its file id."""
        ...


class RoleDirectory(Protocol):
    def has_role(self, user: str, role: str) -> bool: ...

    def members(self, role: str) -> Sequence[str]: ...


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    subject: str
    outcome: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


class AuditLog(Protocol):
    def record(self, event: AuditEvent, *, at: datetime) -> None: ...

    def record_each(self, event: AuditEvent, subjects: Sequence[str], *, at: datetime) -> None:
        """Append ``event`` once per subject (e.g. one row per tenant of a cohort flip) in one round trip."""
        ...


class KpiSource(Protocol):
    def read(self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]]) -> list[KpiReading]:
        """One reading per ``[since, until)`` window for the given tenants."""
        ...


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


class IssueTracker(Protocol):
    """Issues on GitHub (or a compatible API): the release issue's body, and incident tickets."""

    def read_body(self, repo: str, number: int) -> str: ...

    def write_body(self, repo: str, number: int, body: str) -> None:
        """Replace the whole body (GitHub's PATCH semantics)."""
        ...

    def open_issue(self, repo: str, *, title: str, body: str, labels: list[str]) -> str:
        """Create an issue; return its web URL."""
        ...

    def find_issue(
        self, repo: str, *, label: str, marker: str, state: Literal["open", "closed", "all"] = "all"
    ) -> str | None:
        """The web URL of an issue in ``state`` with ``label`` whose body contains ``marker``, if any."""
        ...


class LighthouseRuns(Protocol):
    """Ingested Lighthouse reports in the bot's state database."""

    def previous(self, page: str, *, before: datetime) -> Report | None:
        """The newest recorded run of ``page`` fetched before ``before``."""
        ...

    def record(
        self, report: Report, *, archive_path: str, sha256: str, at: datetime, tickets: Sequence[Ticketed]
    ) -> bool:
        """Store the run (once per page and fetch time) with its drops; False when it was already recorded."""
        ...

    def known(self, report: Report) -> bool:
        """Whether this page's run of this fetch time was ingested before."""
        ...

    def exclusive(self) -> AbstractContextManager[bool]:
        """One ingester at a time across replicas (try-lock)."""
        ...


class JobFailures(Protocol):
    def report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        """Tell the release channel that a job failed: what, where, the error and the command to run next."""
        ...


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


class Linter(Protocol):
    def lint(self, files: Sequence[MigrationFile]) -> list[Finding]: ...


class SchemaDeploys(Protocol):
    def create(self, deploy: Deploy) -> Deploy: ...

    def save(self, deploy: Deploy) -> None: ...

    def get(self, deploy_id: int) -> Deploy | None: ...

    def active(self, env: str) -> Deploy | None: ...

    def applying(self) -> list[Deploy]: ...

    def recent(self, *, limit: int, env: str | None = None) -> list[Deploy]: ...

    def exclusive(self, env: str, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...


class ChecklistTicks(Protocol):
    """Checklist items confirmed by people, in the bot's state database (history kept, latest wins)."""

    def record(self, *, release: str, item: str, ticked: bool, actor: str, at: datetime) -> None: ...

    def latest(self, release: str) -> dict[str, Tick]: ...


@dataclass(frozen=True)
class Preflight:
    """A release whose pre-migration checklist is incomplete, found when its schema deploy or rollout starts."""

    release: str
    blockers: tuple[str, ...]
    refuse: bool  # checklist.enforce = "refuse"

    def sentence(self) -> str:
        more = f" (and {len(self.blockers) - 1} more)" if len(self.blockers) > 1 else ""
        return (
            f"the pre-migration checklist of release `{self.release}` is incomplete: {self.blockers[0]}{more}; "
            f"see `/zdm checklist {self.release}`"
        )


class ReleaseGate(Protocol):
    def preflight(self, *, migrations: Sequence[str] = (), flag: str | None = None) -> Preflight | None:
        """The first release that ``migrations`` (file names) or ``flag`` belong to whose checklist is incomplete."""
        ...


class CleanupRepository(Protocol):
    def create(self, cleanup: Cleanup) -> Cleanup: ...

    def save(self, cleanup: Cleanup) -> None: ...

    def get(self, cleanup_id: int) -> Cleanup | None: ...

    def awaiting(self, release: str) -> Cleanup | None: ...

    def exclusive(self, cleanup_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        """A cross-replica lock on one cleanup, so two approvals at once are both kept."""
        ...


class ReleaseFacts(Protocol):
    """What zdm recorded about a flag, migrations and a backfill job (read-only, the bot's state database)."""

    def rollout_for(self, flag: str) -> Rollout | None:
        """The newest rollout of ``flag`` (any status)."""
        ...

    def rollbacks(self, flag: str, *, since: datetime | None = None) -> list[Rollback]: ...

    def schema_deploys(self, files: Sequence[str]) -> list[Deploy]:
        """Applied schema deploys that applied any of ``files``, oldest first."""
        ...

    def backfill_runs(self, job: str) -> list[BackfillRun]: ...

    def audit_rows(self, *, subjects: Sequence[str], since: datetime | None) -> list[dict[str, Any]]: ...

    def alert_events(self, *, since: datetime | None) -> list[AlertEvent]:
        """Alerts that fired or resolved since then, oldest first."""
        ...
