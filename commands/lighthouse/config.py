"""``[lighthouse]`` in zdm.toml: Lighthouse report ingest (runbook §5).

Reports are archived under ``archive_dir/<date>/`` (relative to ``app.root``; the date is the report's
``fetchTime`` in UTC) and their scores recorded in the state database. Each category is compared with the
baseline — the ``previous`` run of the same page, or a ``pinned`` report of that page — and a drop of more than
``drop_points`` opens one incident ticket (a GitHub issue labelled ``label``) per page and category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LighthouseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    watch_dir: Path | None = None  # relative to app.root; polled by the scheduler; unset = no watched folder
    archive_dir: Path = Path("artifacts/lighthouse")  # relative to app.root
    baseline: Literal["previous", "pinned"] = "previous"
    pinned_reports: tuple[Path, ...] = ()  # baseline = "pinned": one report per page, relative to app.root
    drop_points: float = Field(default=5, ge=0, le=100)  # a drop of more than this (exactly 5 does not count)
    github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")  # default: release
    label: str = Field(default="incident", min_length=1, max_length=50)

    @model_validator(mode="after")
    def _pinned_needs_reports(self) -> LighthouseConfig:
        if self.baseline == "pinned" and not self.pinned_reports:
            raise ValueError("baseline = 'pinned' needs pinned_reports = ['path/to/report.json', …]")
        return self
