"""Schema plans and deploys: pure decisions, no I/O.

A **plan** is what ``/zdm schema plan <env>`` shows: pending vs applied migrations, lint findings, the
clean-bootstrap result and a hash over the files that will be applied. A **deploy** binds approvals to that hash:
when any migration file changes, the hash changes and earlier approvals are void.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from commands.approvals import DBA_AND_LEAD, Approval, add_approval, fully_approved
from commands.approvals import approver as find_approver
from commands.errors import StalePrompt
from commands.schema.history import MigrationFile
from commands.schema.lint import Finding
from commands.text import whole_number

APPROVER_ROLES = DBA_AND_LEAD


class MigrationFailed(Exception):
    """A migration file failed; its own transaction was rolled back. ``applied`` lists the versions before it."""

    def __init__(self, *, file: str, error: str, applied: list[str]) -> None:
        super().__init__(f"{file}: {error}")
        self.file = file
        self.error = error
        self.applied = applied


@dataclass(frozen=True)
class BootstrapResult:
    ok: bool
    applied: int
    file: str | None = None  # the first file that failed
    error: str | None = None
    seeded: bool = False
    round_trips: int = 0  # pending migrations whose rollback pair round-tripped (migration, rollback, migration)
    where: str = "a scratch database"


@dataclass(frozen=True)
class Plan:
    env: str
    pending: tuple[MigrationFile, ...]
    applied: tuple[str, ...]  # versions already in the history
    out_of_order: tuple[MigrationFile, ...]  # pending, but older than the newest applied version
    findings: tuple[Finding, ...] = ()
    bootstrap: BootstrapResult | None = None
    include_all: bool = False
    commit: str | None = None  # the repository commit the files were read at (None: the local folder)

    @property
    def to_apply(self) -> tuple[MigrationFile, ...]:
        if self.include_all:
            return self.pending
        late = {m.version for m in self.out_of_order}
        return tuple(m for m in self.pending if m.version not in late)

    @property
    def plan_hash(self) -> str:
        return plan_hash(self.env, self.to_apply, commit=self.commit)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)

    @property
    def reviews(self) -> tuple[str, ...]:
        """What the approvers acknowledge by approving: each statement the lint cannot see through."""
        return tuple(f"`{f.where}` `{f.statement}`" for f in self.findings if f.review and not f.blocking)

    def problems(self) -> list[str]:
        """Why this plan cannot be deployed, one sentence each (empty when it can)."""
        found = []
        if self.out_of_order and not self.include_all:
            names = ", ".join(f"`{m.file_name}`" for m in self.out_of_order)
            found.append(
                f"{names} {'is' if len(self.out_of_order) == 1 else 'are'} older than the newest applied migration; "
                "rename with a newer timestamp, or deploy with `--include-all` as `supabase db push` would"
            )
        if self.blocking:
            first = self.blocking[0]
            more = f" ({len(self.blocking)} blocking findings in all)" if len(self.blocking) > 1 else ""
            found.append(f"lint blocks `{first.where}`{more}: {first.message}")
        if self.bootstrap is not None and not self.bootstrap.ok:
            found.append(f"clean bootstrap fails at `{self.bootstrap.file}`: {self.bootstrap.error}")
        return found


def plan_hash(env: str, files: tuple[MigrationFile, ...] | list[MigrationFile], *, commit: str | None = None) -> str:
    """Short hash over the environment, the commit read (if any) and each file to apply (name and content)."""
    digest = hashlib.sha256(env.encode())
    if commit is not None:
        digest.update(f"\0commit\0{commit}".encode())
    for migration in files:
        digest.update(f"\0{migration.file_name}\0{migration.digest()}".encode())
    return digest.hexdigest()[:16]


def out_of_order(pending: list[MigrationFile], applied: set[str]) -> tuple[MigrationFile, ...]:
    newest = max((n for v in applied if (n := whole_number(v, max_digits=30)) is not None), default=None)
    if newest is None:
        return ()
    return tuple(m for m in pending if int(m.version) < newest)


class DeployStatus(StrEnum):
    AWAITING = "awaiting"  # approvals
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    VOID = "void"  # files changed after approval, or cancelled

    @property
    def active(self) -> bool:
        return self in (DeployStatus.AWAITING, DeployStatus.APPLYING)


@dataclass(frozen=True)
class Deploy:
    id: int
    env: str
    plan_hash: str
    files: tuple[str, ...]  # file names to apply, in order
    requester: str
    requested_at: datetime
    status: DeployStatus = DeployStatus.AWAITING
    needs_approval: bool = True
    include_all: bool = False
    approvals: tuple[Approval, ...] = ()
    applied: tuple[str, ...] = ()  # versions applied by this deploy
    error: str | None = None
    release: str | None = None  # "owner/repo#123" when recorded
    channel: str | None = None
    message_ts: str | None = None
    finished_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())
    reviews: tuple[str, ...] = ()  # statements the lint cannot see through; approving acknowledges them
    commit: str | None = None  # the approved commit: a deploy applies exactly its files
    break_glass: str | None = None  # why (and who confirmed) the checklist and rollback readiness are skipped

    @property
    def approved(self) -> bool:
        if not self.needs_approval:
            return True
        return fully_approved(self.approvals, APPROVER_ROLES)

    def approver(self, role: str) -> Approval | None:
        return find_approver(self.approvals, role)


def approve(deploy: Deploy, *, user: str, roles: set[str], current_hash: str, now: datetime) -> Deploy:
    """Record ``user``'s approval in the first open role they hold; raise a ``UserError`` saying why not."""
    if deploy.status is not DeployStatus.AWAITING:
        why = f": {deploy.error}" if deploy.error else ""
        raise StalePrompt(what=f"schema deploy #{deploy.id} is {deploy.status.value}{why}")
    if current_hash != deploy.plan_hash:
        raise StalePrompt(what=f"the migration files changed since schema deploy #{deploy.id} was requested")
    subject, requester = f"schema deploy #{deploy.id}", deploy.requester
    approvals = add_approval(deploy.approvals, subject=subject, requester=requester, user=user, roles=roles, now=now)
    return replace(deploy, approvals=approvals)


def void(deploy: Deploy, *, why: str, now: datetime) -> Deploy:
    return replace(deploy, status=DeployStatus.VOID, error=why, finished_at=now)
