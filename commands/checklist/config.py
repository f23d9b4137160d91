"""``[releases.<name>]`` and ``[checklist]`` in zdm.toml: what a release is made of, and the runbook's §1 checklist.

A release names its migration files (globs in ``app.migrations_dir``), its backfill script(s), its flag and its
destructive follow-up (``cleanup``). zdm checks the checkout at ``app.root`` for what it can verify itself; the
items in ``[[checklist.confirm]]`` are ticked on the card by a person holding one of the item's roles.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RELEASE_NAME = re.compile(r"\A[a-z0-9][a-z0-9_.-]{0,62}\Z")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReleaseSpec(_Section):
    title: str = ""  # shown on cards and in the notes; default: the release name
    migrations: tuple[str, ...] = Field(min_length=1)  # globs in app.migrations_dir, e.g. "20250301000000_*"
    backfill: tuple[str, ...] = ("supabase/seed/backfill_*.sql",)  # globs relative to app.root
    backfill_job: str | None = None  # a [backfill.jobs.*] name: its runs go into the release notes
    flag: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")  # default: flag.name
    cleanup: Path | None = None  # the destructive follow-up migration, relative to app.root
    schema_env: str = "preview"  # where the release's migrations are deployed (for the notes)


class ConfirmItem(_Section):
    """An item only a person can confirm; anyone holding one of ``roles`` may tick it."""

    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    text: str = Field(min_length=3, max_length=150)
    roles: tuple[str, ...] = Field(min_length=1)
    high_volume_only: bool = False  # required only when the release's migrations touch checklist.high_volume_tables


DEFAULT_CONFIRM = (
    ConfirmItem(key="dba_review", text="Schema reviewed with a DBA", roles=("dba",)),
    ConfirmItem(key="security_review", text="Security review: RLS impact assessed", roles=("security",)),
    ConfirmItem(
        key="load_test",
        text="Load test executed on staging (high-volume tables)",
        roles=("dba", "platform_lead"),
        high_volume_only=True,
    ),
)


class ChecklistConfig(_Section):
    enforce: Literal["warn", "refuse"] = "warn"  # a schema deploy or rollout while the checklist is incomplete
    flags_file: Path = Path("packages/config/src/flags.ts")
    rfc: Path = Path("docs/rfc-001-repo-refactor.md")
    observability: tuple[str, ...] = ("observability/**/*",)  # dashboards and alert rules, relative to app.root
    high_volume_tables: tuple[str, ...] = ("public.orders",)
    confirm: tuple[ConfirmItem, ...] = DEFAULT_CONFIRM

    @field_validator("confirm")
    @classmethod
    def _unique_keys(cls, value: tuple[ConfirmItem, ...]) -> tuple[ConfirmItem, ...]:
        keys = [item.key for item in value]
        if len(keys) != len(set(keys)):
            raise ValueError("checklist.confirm keys must be unique")
        if len(keys) > 10:
            raise ValueError("at most 10 items can be confirmed on one card (Slack's checkbox limit)")
        return value


def check_release_names(releases: dict[str, ReleaseSpec]) -> None:
    for name in releases:
        if not RELEASE_NAME.match(name):
            raise ValueError(f"release name {name!r}: use lowercase letters, digits, '.', '_' or '-'")
