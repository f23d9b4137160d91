"""The schema step of a rollback (``--schema VERSION``): a whole-flag decision taken by a second person.

The paired ``*_rollback.sql`` changes the schema for every tenant, not only the one rolled back. So the file is
pinned by its hash when the rollback is requested (a different file at apply time voids the confirmation), the
card states how many other tenants have the flag on (the blast radius), and while any has, applying means turning
the flag off for all of them first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from commands.config import RunbookConfig
from commands.ports import AuditEvent, AuditLog, Clock, FlagStore, TargetDatabase
from commands.rollback.model import Rollback, Step, StepResult, StepStatus

ALL_TENANTS = 1_000_000  # the tenant list is read whole: the blast radius is about every tenant
APPROVERS = ("dba", "platform_lead")
VOID = "void"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rollback_path(config: RunbookConfig, file: str) -> Path:
    """Where a found ``*_rollback.sql`` lives: ``app.rollbacks_dir`` first, else (the runbook's old layout) the
    migrations folder, as ``commands.schema.layout.find_rollback`` looks."""
    kept = config.rollbacks_path / file
    return kept if kept.is_file() else config.migrations_path / file


@dataclass(frozen=True)
class SchemaStep:
    config: RunbookConfig
    clock: Clock
    flags: FlagStore
    target: TargetDatabase
    audit: AuditLog

    def others_on(self, rollback: Rollback) -> list[str]:
        """Tenants other than the rolled-back one that have the rollback's flag on now."""
        tenants = [t for t in self.target.find_tenants("*", limit=ALL_TENANTS) if t != rollback.tenant]
        on = self.flags.enabled_among(flag=rollback.flag, tenants=tenants)
        return [t for t in tenants if t in on]

    def run(self, rollback: Rollback) -> StepResult:
        """Skip, or apply the pinned file (after turning the flag off for every tenant, when so decided)."""
        now = self.clock.now
        if rollback.schema_decision == "skip":
            return StepResult(Step.SCHEMA_ROLLBACK, StepStatus.SKIPPED, f"skipped by <@{rollback.decided_by}>", now())
        assert rollback.schema_version and rollback.schema_file
        path = rollback_path(self.config, rollback.schema_file)
        content = path.read_bytes()
        found = hashlib.sha256(content).hexdigest()
        if rollback.schema_sha256 and found != rollback.schema_sha256:
            detail = (
                f"{VOID}: `{rollback.schema_file}` changed after the request (sha256 {rollback.schema_sha256[:12]} → "
                f"{found[:12]}); the confirmation by <@{rollback.decided_by}> is void and nothing was applied"
            )
            return StepResult(Step.SCHEMA_ROLLBACK, StepStatus.FAILED, detail, now())
        turned_off = ""
        if rollback.schema_flag_off_all:
            tenants = self.others_on(rollback)
            actor = rollback.decided_by or rollback.requested_by
            for tenant in tenants:  # idempotent: a resumed step turns off only what is still on
                self.flags.set_enabled(tenant=tenant, flag=rollback.flag, enabled=False, actor=actor)
            event = AuditEvent(actor, "rollback.flag_off_all", "", "ok", {"rollback_id": rollback.id})
            self.audit.record_each(event, tenants, at=now())
            turned_off = f"turned `{rollback.flag}` off for {len(tenants)} other tenant(s), then "
        detail = self.target.apply_rollback_file(
            path,
            version=rollback.schema_version,
            lock_timeout_ms=self.config.rollback.schema_lock_timeout_ms,
            text=content.decode("utf-8"),
        )
        detail = f"{turned_off}{detail} (confirmed by <@{rollback.decided_by}>)"
        return StepResult(Step.SCHEMA_ROLLBACK, StepStatus.OK, detail, now())
