"""``[notes]`` and ``[archive]``: where release notes are drafted and what is archived for audit."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotesConfig(_Section):
    changelog: Path = Path("CHANGELOG.md")  # relative to app.root; the RFC is checklist.rfc
    rfc_heading: str = Field(default="Deployment notes", min_length=1)


class ArchiveConfig(_Section):
    folder: Path = Path("artifacts")  # artifacts/<release>/ relative to app.root
    reports: tuple[str, ...] = ("coverage/**/*.json", "artifacts/lighthouse/**/*.json")  # globs relative to app.root


class DeliveryConfig(_Section):
    """``[delivery]``: where recorded entries (rollback log, release notes) go after the state database.

    Unset ``github_repo``: the files in ``app.root`` are written directly (the demo). Set: each entry becomes a
    commit on ``branch`` and one open pull request into ``base`` collects them (token: ``ZDM_GITHUB_TOKEN``)."""

    github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    branch: str = Field(default="zdm/records", pattern=r"^[A-Za-z0-9_./-]{1,100}$")
    base: str = Field(default="main", pattern=r"^[A-Za-z0-9_./-]{1,100}$")
    pr_title: str = Field(default="zdm: rollback log and release notes", min_length=1, max_length=200)
