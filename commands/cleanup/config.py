"""``[cleanup]``: when a release's destructive follow-up (dropping legacy columns and views) may be scheduled."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CleanupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stable_days: int = Field(default=7, ge=1, le=60)  # consecutive days with KPIs within thresholds, no rollback
