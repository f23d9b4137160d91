"""The small interfaces services depend on. Adapters implement them; tests may use in-memory versions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from commands.cards import Card, MessageRef

if TYPE_CHECKING:
    from commands.alerts.model import AlertEvent
    from commands.backfill.model import BackfillRun
    from commands.rollback.model import Rollback
    from commands.rollout.config import PlanStep
    from commands.rollout.gates import KpiReading
    from commands.rollout.model import Rollout
    from commands.schema.history import MigrationFile
    from commands.schema.lint import Finding
    from commands.schema.model import Deploy


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


OutageCheck = Callable[[BaseException], bool]
"""True when an exception means the state database is not there right now (no connection, or the server went
away), as opposed to a bug or a bad query; the Postgres adapters' ``pg_errors.connection_lost``."""


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


class RequestLedger(Protocol):
    """Slack requests already acted on, shared by every replica (Slack retries a request it thinks was lost)."""

    def first_time(self, *, key: str, kind: str, at: datetime) -> bool:
        """Record ``key``; True the first time it is seen, False for any retry or duplicate."""
        ...

    def purge(self, *, older_than: timedelta, now: datetime) -> int:
        """Forget requests older than Slack's retry horizon; return how many went."""
        ...


class KpiSource(Protocol):
    def read(self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]]) -> list[KpiReading]:
        """One reading per ``[since, until)`` window for the given tenants."""
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


class JobFailures(Protocol):
    def report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        """Tell the release channel that a job failed: what, where, the error and the command to run next."""
        ...


class Linter(Protocol):
    def lint(self, files: Sequence[MigrationFile]) -> list[Finding]: ...


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
