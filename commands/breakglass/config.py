"""``[break_glass]`` in zdm.toml: who confirms a break-glass (never the person who asked for it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BreakGlassConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(default="platform_lead", pattern=r"^[a-z_]{1,40}$")  # a [roles] name
