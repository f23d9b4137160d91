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
