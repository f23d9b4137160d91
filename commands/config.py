"""The runbook as configuration: ``zdm.toml``.

Loaded and validated once at start-up. A bad value stops start-up with a message that names the key, e.g.
``zdm.toml: rollback.smoke_timeout_s: Input should be greater than 0``. Relative paths are resolved against the
folder that holds the config file (``app.root``) or against ``app.root`` (migrations, rollback log).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from commands.alerts.config import AlertsConfig
from commands.backfill.config import BackfillConfig
from commands.breakglass.config import BreakGlassConfig
from commands.checklist.config import ChecklistConfig, ReleaseSpec, check_release_names
from commands.cleanup.config import CleanupConfig
from commands.errors import ConfigError
from commands.kpi_config import KpiConfig
from commands.lighthouse.config import LighthouseConfig
from commands.permissions import check_permissions, permission_table
from commands.records.config import ArchiveConfig, DeliveryConfig, NotesConfig
from commands.rollout.config import RolloutConfig
from commands.schema.config import ReleaseConfig, SchemaConfig

SLACK_ID = re.compile(r"\A[UWS][A-Z0-9_]{1,30}\Z")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlagConfig(_Section):
    name: str = Field(default="tenant.enableNewProfile", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    backend: Literal["postgres", "command"] = "postgres"
    table: str = Field(default="public.feature_flags", pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    disable_argv: tuple[str, ...] = ("pnpm", "flags:disable", "{flag}", "--tenant={tenant}")
    enable_argv: tuple[str, ...] = ("pnpm", "flags:enable", "{flag}", "--tenant={tenant}")
    # command backend: a read-only call that proves the CLI answers (rollback readiness); empty: not checked
    check_argv: tuple[str, ...] = ()
    command_timeout_s: float = Field(default=60, gt=0)


class ChannelsConfig(_Section):
    release: str = Field(default="#release", min_length=2)


class RolesConfig(_Section):
    """Slack user ids (``U…``/``W…``) or user-group ids (``S…``) per role."""

    oncall: tuple[str, ...] = ()
    dba: tuple[str, ...] = ()
    platform_lead: tuple[str, ...] = ()
    release_approvers: tuple[str, ...] = ()
    security: tuple[str, ...] = ()  # tick the checklist's security review (RLS impact)

    @field_validator("*")
    @classmethod
    def _slack_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not SLACK_ID.match(item):
                raise ValueError(f"{item!r} is not a Slack user id (U…/W…) or user-group id (S…)")
        return value


class AppConfig(_Section):
    root: Path = Path(".")
    migrations_dir: Path = Path("supabase/migrations")
    # `*_rollback.sql` pairs live here, out of the Supabase CLI's reach (it would push them as migrations)
    rollbacks_dir: Path = Path("supabase/rollbacks")
    repo: str | None = None  # a git URL: schema plans and deploys read migrations at a commit of it (not `root`)
    ref: str = Field(default="main", pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")  # branch or tag; per env: ref


class RollbackConfig(_Section):
    restore_sql: str = Field(default="select sp_restore_legacy_tenant_views();", min_length=1)
    smoke_argv: tuple[str, ...] = ("pnpm", "--filter", "web", "test:e2e", "--", "--grep", "tenancy")
    smoke_timeout_s: float = Field(default=600, gt=0)
    log_path: Path = Path("docs/runbooks/rollback-log.md")
    schema_lock_timeout_ms: int = Field(default=5000, gt=0)

    @field_validator("smoke_argv")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not value[0]:
            raise ValueError("must name a program to run")
        return value


class RunbookConfig(_Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    flag: FlagConfig = FlagConfig()
    channels: ChannelsConfig = ChannelsConfig()
    roles: RolesConfig = RolesConfig()
    app: AppConfig = AppConfig()
    rollback: RollbackConfig = RollbackConfig()
    rollout: RolloutConfig = RolloutConfig()
    backfill: BackfillConfig = BackfillConfig()
    # `[schema]` in the file; the attribute has another name because pydantic's BaseModel.schema() exists
    schema_stage: SchemaConfig = Field(default=SchemaConfig(), alias="schema")
    release: ReleaseConfig = ReleaseConfig()
    alerts: AlertsConfig = AlertsConfig()
    releases: dict[str, ReleaseSpec] = Field(default_factory=dict)
    checklist: ChecklistConfig = ChecklistConfig()
    cleanup: CleanupConfig = CleanupConfig()
    notes: NotesConfig = NotesConfig()
    archive: ArchiveConfig = ArchiveConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    break_glass: BreakGlassConfig = BreakGlassConfig()

    @model_validator(mode="after")
    def _release_names(self) -> RunbookConfig:
        check_release_names(self.releases)
        known = set(RolesConfig.model_fields)
        if self.break_glass.role not in known:
            raise ValueError(f"break_glass.role: unknown role {self.break_glass.role!r}; roles: {sorted(known)}")
        for item in self.checklist.confirm:
            if unknown := [r for r in item.roles if r not in known]:
                raise ValueError(f"checklist.confirm {item.key!r}: unknown role {unknown[0]!r}; roles: {sorted(known)}")
        return self

    kpi: KpiConfig = KpiConfig()
    lighthouse: LighthouseConfig = LighthouseConfig()
    # `[permissions]`: who may run each /zdm command (rows over commands.permissions.DEFAULT_PERMISSIONS)
    permissions: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _permission_rows(self) -> RunbookConfig:
        check_permissions(self.permissions, known_roles=set(RolesConfig.model_fields))
        return self

    @property
    def command_permissions(self) -> dict[str, tuple[str, ...]]:
        """The whole table: defaults plus the rows of ``[permissions]``."""
        return permission_table(self.permissions)

    @model_validator(mode="after")
    def _references(self) -> RunbookConfig:
        """Names one section uses must exist in the section that defines them."""
        jobs, schema_envs = self.backfill.jobs, self.schema_stage.environments
        for name, spec in self.releases.items():
            if spec.backfill_job is not None and spec.backfill_job not in jobs:
                known = ", ".join(sorted(jobs)) or "none configured"
                raise ValueError(
                    f"release {name!r} names backfill job {spec.backfill_job!r}, which [backfill.jobs] "
                    f"does not define ({known})"
                )
            if spec.schema_env not in schema_envs:
                raise ValueError(
                    f"release {name!r} names schema environment {spec.schema_env!r}, which "
                    f"[schema.environments] does not define ({', '.join(sorted(schema_envs))})"
                )
        if self.rollout.default_plan not in self.rollout.plans:
            raise ValueError(
                f"rollout.default_plan {self.rollout.default_plan!r} is not one of rollout.plans "
                f"({', '.join(sorted(self.rollout.plans))})"
            )
        return self

    @model_validator(mode="after")
    def _command_backend_needs_argv(self) -> RunbookConfig:
        if self.flag.backend == "command" and not self.flag.disable_argv:
            raise ValueError("flag.disable_argv is required when flag.backend = 'command'")
        return self

    @model_validator(mode="after")
    def _enough_approvers(self) -> RunbookConfig:
        approvers = self.roles.release_approvers
        if not approvers or any(a.startswith("S") for a in approvers):
            return self  # nobody can start a rollout yet, or a user group whose size only Slack knows
        for name, steps in self.rollout.plans.items():
            needed = max(step.required_approvals for step in steps) + 1  # the starter cannot approve
            if len(set(approvers)) < needed:
                raise ValueError(
                    f"rollout plan {name!r} needs {needed - 1} approvals from someone other than the starter, "
                    f"so roles.release_approvers needs at least {needed} people (it has {len(set(approvers))})"
                )
        return self

    @property
    def migrations_path(self) -> Path:
        return self.app.root / self.app.migrations_dir

    @property
    def rollbacks_path(self) -> Path:
        return self.app.root / self.app.rollbacks_dir

    @property
    def rollback_log_path(self) -> Path:
        return self.app.root / self.rollback.log_path


def load_config(path: Path) -> RunbookConfig:
    """Read and validate ``zdm.toml``; raise ``ConfigError`` naming the file and key on any problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found; set ZDM_CONFIG_PATH or create it") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = RunbookConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConfigError(f"{path.name}: {key}: {first['msg']}") from exc
    base = path.resolve().parent
    root = config.app.root if config.app.root.is_absolute() else base / config.app.root
    return config.model_copy(update={"app": config.app.model_copy(update={"root": root})})
