"""``[backfill]`` in zdm.toml: backfill jobs, the environments they run in, and the engine's limits.

A job is a keyset batch statement: it gets ``%(after)s`` (the last key done), ``%(upto)s`` (the end of this
worker's key range) and ``%(limit)s`` (the batch size) and returns one row ``done, failed, last_key`` —
``last_key`` NULL when its range has nothing left. The verification query returns how many rows are still to do.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from commands.rollout.config import Duration

_WINDOW = re.compile(r"\A([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})\Z")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackfillJob(_Section):
    """A keyset job (``table``, ``key``, ``batch_sql``), or a legacy one-shot (``legacy_sql``, e.g. the runbook's
    ``select run_tenant_backfill(...)``) run as one statement with ``statement_timeout`` = ``max_runtime``."""

    table: str = Field(default="public.unused", pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    key: str = Field(default="id", pattern=r"^[a-z_][a-z0-9_]*$")
    batch_sql: str | None = None
    legacy_sql: str | None = None
    verify_sql: str = Field(min_length=10)
    workers: int = Field(default=1, ge=1, le=16)
    audit_errors_sql: str | None = None  # anomalies since %(since)s, e.g. in tenant_migration_audit

    @model_validator(mode="after")
    def _one_kind(self) -> BackfillJob:
        if (self.batch_sql is None) == (self.legacy_sql is None):
            raise ValueError("give a job either batch_sql (keyset batches) or legacy_sql (one statement)")
        for name in ("after", "upto", "limit"):
            if self.batch_sql is not None and f"%({name})s" not in self.batch_sql:
                raise ValueError(f"batch_sql must use %({name})s")
        return self


class Environment(_Section):
    """Where a job runs. ``database_url_env`` names an environment variable; unset means the target database."""

    database_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    window: str | None = None  # e.g. "01:00-05:00": low-traffic hours; None = any time
    timezone: str = "UTC"
    requires_staging: bool = False  # production: the same job must have finished (verified) on staging first

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = _WINDOW.match(value)
        if not match:
            raise ValueError(f"window {value!r}: write it as 'HH:MM-HH:MM', e.g. '01:00-05:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if max(h1, h2) > 23 or max(m1, m2) > 59:
            raise ValueError(f"window {value!r}: hours run from 00 to 23 and minutes from 00 to 59")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"timezone {value!r} is not a known IANA time zone, e.g. 'Europe/Berlin'") from None
        return value

    @property
    def hours(self) -> tuple[time, time] | None:
        if self.window is None:
            return None
        match = _WINDOW.match(self.window)
        assert match
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return time(h1, m1), time(h2, m2)


class EngineConfig(_Section):
    target_batch_ms: int = Field(default=40, ge=5, le=5000)  # batches aim at this; locks stay well under 200 ms
    min_batch: int = Field(default=100, ge=1)
    max_batch: int = Field(default=10_000, ge=1)
    start_batch: int = Field(default=1000, ge=1)
    lock_timeout_ms: int = Field(default=2000, ge=1)
    lock_retries: int = Field(default=5, ge=0)
    pause_between_ms: int = Field(default=0, ge=0)  # the shortest pause between a worker's batches
    error_rate_max: float = Field(default=0.005, ge=0, le=1)  # runbook: abort above 0.5 %
    max_runtime: Duration = timedelta(minutes=30)  # runbook: abort after 30 minutes (paused, resumable)
    load_sql: str | None = None  # one number, e.g. active queries or replication lag in seconds
    load_throttle_at: float | None = None  # wait while the load is at or above this
    load_stop_at: float | None = None  # pause the job (with its checkpoint) at or above this
    progress_every_s: float = Field(default=2.0, gt=0)
    # The throttle (on unless a run is started with --max-speed): hold the canary's p95 within the budget.
    latency_budget: float = Field(default=1.3, ge=1.0)  # × the canary's p95 measured before the run
    baseline_s: float = Field(default=3.0, gt=0)  # how long the canary is sampled before the run
    canary_every_ms: int = Field(default=10, ge=5)  # 100 beats/s: a 1.5 s window holds 150
    settle_s: float = Field(default=1.5, gt=0)  # after a change, wait this long (and judge this window) again
    rebaseline_every_s: float = Field(default=20.0, ge=0)  # stop for `remeasure_s` and re-measure; 0 = never
    remeasure_s: float = Field(default=1.0, gt=0)
    min_batch_ms: int = Field(default=10, ge=1)  # the shortest batches a slow-down goes to
    max_pause_ms: int = Field(default=2000, ge=0)  # the longest pause between batches a slow-down goes to
    replicas: tuple[str, ...] = ()  # application_name of replicas in pg_stat_replication to watch
    lag_limit_s: float = Field(default=10.0, gt=0)  # slow down while any of them lags more
    active_sessions_limit: int | None = Field(default=None, ge=1)  # slow down above this many active sessions

    @model_validator(mode="after")
    def _bounds(self) -> EngineConfig:
        if not self.min_batch <= self.start_batch <= self.max_batch:
            raise ValueError("need min_batch <= start_batch <= max_batch")
        if self.min_batch_ms > self.target_batch_ms:
            raise ValueError("need min_batch_ms <= target_batch_ms")
        return self


class BackfillConfig(_Section):
    default_job: str | None = None
    jobs: dict[str, BackfillJob] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(
        default_factory=lambda: {
            "staging": Environment(),
            "production": Environment(window="01:00-05:00", requires_staging=True),
        }
    )
    engine: EngineConfig = EngineConfig()

    @model_validator(mode="after")
    def _default(self) -> BackfillConfig:
        if self.default_job is not None and self.default_job not in self.jobs:
            raise ValueError(f"default_job {self.default_job!r} is not one of the jobs ({', '.join(self.jobs)})")
        return self
