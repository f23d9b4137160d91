"""The schema stage's ports in memory: deploy records (``commands.schema.ports.SchemaDeploys``, keeping
``PgSchemaDeploys``' rules: one active deploy per environment, ``save`` replaces the record, newest first) and one
environment's database (``SchemaTarget``: a history of applied versions; a file in ``failing`` fails to apply, one in
``failing_bootstrap`` fails the clean bootstrap), the linter and the release channel's job failures."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from commands.errors import UserError
from commands.schema.history import MigrationFile
from commands.schema.lint import Finding
from commands.schema.model import BootstrapResult, Deploy, MigrationFailed


@dataclass
class MemorySchemaDeploys:
    rows: dict[int, Deploy] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)  # environments held by another worker

    def create(self, deploy: Deploy) -> Deploy:
        if (active := self.active(deploy.env)) is not None:
            raise UserError(
                f"`{deploy.env}` already has a schema deploy awaiting approval or applying (#{active.id}); finish or "
                "cancel it first (`/zdm schema status`)."
            )
        created = replace(deploy, id=max(self.rows, default=0) + 1)
        self.rows[created.id] = created
        return created

    def save(self, deploy: Deploy) -> None:
        if deploy.id in self.rows:
            self.rows[deploy.id] = deploy

    def get(self, deploy_id: int) -> Deploy | None:
        return self.rows.get(deploy_id)

    def active(self, env: str) -> Deploy | None:
        return next((d for d in self.rows.values() if d.env == env and d.status.active), None)

    def applying(self) -> list[Deploy]:
        return [d for _, d in sorted(self.rows.items()) if d.status.value == "applying"]

    def recent(self, *, limit: int, env: str | None = None) -> list[Deploy]:
        newest_first = [d for _, d in sorted(self.rows.items(), reverse=True) if env is None or d.env == env]
        return newest_first[:limit]

    @contextmanager
    def exclusive(self, env: str, *, wait_s: float = 0) -> Iterator[bool]:
        yield env not in self.locked


@dataclass
class MemorySchemaTarget:
    history: dict[str, str] = field(default_factory=dict)  # version → name, as the Supabase CLI's table keeps it
    failing: set[str] = field(default_factory=set)  # file names whose SQL fails on this database
    failing_bootstrap: set[str] = field(default_factory=set)  # file names whose SQL fails in a clean database
    bootstraps: list[list[str]] = field(default_factory=list)  # file names of each clean bootstrap

    def applied(self) -> dict[str, str]:
        return dict(self.history)

    def apply(self, files: Sequence[MigrationFile], *, lock_timeout_ms: int) -> list[str]:
        done: list[str] = []
        for migration in files:
            if migration.version in self.history:
                continue  # applied meanwhile: never twice
            if migration.file_name in self.failing:
                raise MigrationFailed(file=migration.file_name, error="syntax error", applied=done)
            self.history[migration.version] = migration.name
            done.append(migration.version)
        return done

    def bootstrap(
        self,
        files: Sequence[MigrationFile],
        *,
        seed: Path | None,
        lock_timeout_ms: int,
        prelude: str | None = None,
        rollbacks: Mapping[str, Path] | None = None,
    ) -> BootstrapResult:
        self.bootstraps.append([m.file_name for m in files])
        broken = next((m for m in files if m.file_name in self.failing_bootstrap), None)
        if broken is not None:
            return BootstrapResult(ok=False, applied=files.index(broken), file=broken.file_name, error="syntax error")
        return BootstrapResult(ok=True, applied=len(files), round_trips=len(rollbacks or {}))


@dataclass
class ScriptedLinter:
    """``commands.ports.Linter``: the same findings for every lint (none by default)."""

    findings: list[Finding] = field(default_factory=list)
    linted: list[list[str]] = field(default_factory=list)  # file names of each lint

    def lint(self, files: Sequence[MigrationFile]) -> list[Finding]:
        self.linted.append([m.file_name for m in files])
        return list(self.findings)


@dataclass
class MemoryFailures:
    """``commands.ports.JobFailures``: each report as its keyword arguments."""

    reports: list[dict[str, str]] = field(default_factory=list)

    def report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        self.reports.append({"what": what, "where": where, "error": error, "next_command": next_command})
