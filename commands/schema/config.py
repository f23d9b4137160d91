"""``[schema]`` and ``[release]`` in zdm.toml: where migrations are deployed and how they are checked.

Each environment names its database (``database_url_env``: an environment variable holding the URL; unset means
the target database), optionally a disposable shadow database for the clean bootstrap (``shadow_database_url_env``),
its migrations folder (default ``app.migrations_dir``) and whether a deploy needs the DBA + Platform-lead approval.
``mode = "supabase"`` runs ``push_argv`` (e.g. ``supabase db push --project-ref <ref>``) instead of applying the
files natively.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# squawk rules that make a migration unsafe to run against a live table (long ACCESS EXCLUSIVE locks, full
# rewrites, required fields old code does not write). Other squawk findings are shown as advice.
BLOCKING_SQUAWK_RULES = (
    "adding-required-field",
    "changing-column-type",
    "constraint-missing-not-valid",
    "adding-foreign-key-constraint",
    "disallowed-unique-constraint",
    "adding-not-nullable-field",
    "ban-drop-column",
    "ban-drop-table",
    "ban-drop-database",
    "renaming-column",
    "renaming-table",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchemaEnvironment(_Section):
    database_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    # a disposable database for the clean bootstrap (emptied before and after each check, like the Supabase CLI's
    # shadow database); unset: a scratch database created and dropped next to the environment's database
    shadow_database_url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    migrations_dir: Path | None = None  # relative to app.root; default app.migrations_dir
    approvals: bool = True  # one `dba` and one `platform_lead`, two different people, neither the requester
    mode: Literal["native", "supabase"] = "native"
    push_argv: tuple[str, ...] = ()  # mode "supabase": e.g. ["supabase", "db", "push", "--project-ref", "abc"]
    push_timeout_s: float = Field(default=900, gt=0)
    ref: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")  # with app.repo; else app.ref

    @model_validator(mode="after")
    def _push_needs_argv(self) -> SchemaEnvironment:
        if self.mode == "supabase" and not self.push_argv:
            raise ValueError("mode = 'supabase' needs push_argv, e.g. ['supabase', 'db', 'push', '--project-ref', …]")
        return self


class LintConfig(_Section):
    squawk_argv: tuple[str, ...] = ("squawk",)
    # zdm sets lock_timeout itself when it applies a file, and applies each file in a transaction
    squawk_exclude: tuple[str, ...] = ("require-lock-timeout", "require-statement-timeout")
    squawk_blocking: tuple[str, ...] = BLOCKING_SQUAWK_RULES
    timeout_s: float = Field(default=60, gt=0)


class SchemaConfig(_Section):
    lock_timeout_ms: int = Field(default=5000, gt=0)
    bootstrap_seed: bool = True  # the clean-bootstrap check also loads supabase/seed.sql, as `supabase db reset`
    # the clean bootstrap first applies the Supabase platform prelude (roles anon/authenticated/service_role, schemas
    # auth/storage/extensions, auth.uid()/role()/jwt()): zdm's own, or prelude_file (relative to app.root)
    platform_prelude: bool = True
    prelude_file: Path | None = None
    lint: LintConfig = LintConfig()
    environments: dict[str, SchemaEnvironment] = Field(default_factory=lambda: {"preview": SchemaEnvironment()})


class ReleaseConfig(_Section):
    """The release issue whose "DB Changes" section zdm keeps up to date (``--release N`` overrides ``issue``)."""

    github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    issue: int | None = Field(default=None, gt=0)
    section: str = Field(default="DB Changes", min_length=1)
    github_api_url: str = "https://api.github.com"
