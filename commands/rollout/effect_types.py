"""The effects a rollout transition asks for, as plain data (``commands.rollout.transitions`` returns them,
``RolloutEffects.run`` carries them out against the rollout's saved state)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from commands.rollout.gates import GateReport


@dataclass(frozen=True)
class Announce:
    """A short reply in the rollout's thread."""

    text: str


@dataclass(frozen=True)
class Audit:
    """One audit-log line about the rollout (its flag, id and correlation id are added)."""

    action: str
    actor: str
    detail: Mapping[str, object]
    outcome: str = "ok"


@dataclass(frozen=True)
class RefreshRoot:
    """Redraw the thread's root card."""


@dataclass(frozen=True)
class RefreshPrompt:
    """Redraw step ``index``'s approval card (with ``report`` when the gates were just read)."""

    index: int
    report: GateReport | None = None


@dataclass(frozen=True)
class PostPrompt:
    """Post the current step's approval card (opening the thread first if needed), or redraw it if posted: the
    message references it gets are saved with the rollout."""


@dataclass(frozen=True)
class AppendLog:
    """The rollback-log entry of a flip, recorded once under its globally unique ``marker``."""

    marker: str
    text: str


Effect = Announce | Audit | RefreshRoot | RefreshPrompt | PostPrompt | AppendLog
