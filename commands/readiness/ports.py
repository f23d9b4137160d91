"""What rollback readiness asks the outside world, through small ports."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from commands.readiness.model import Readiness


class RoutineLookup(Protocol):
    def routine_exists(self, name: str) -> bool:
        """Whether ``select to_regproc(name)`` finds the function in this database."""
        ...


class ProgramFinder(Protocol):
    def which(self, program: str, *, path: str | None, cwd: Path) -> str | None:
        """The executable ``program`` resolves to on ``path`` (a name with a slash: relative to ``cwd``), if any."""
        ...


class ReadinessCheck(Protocol):
    """What the rollout and schema stages call before an approval card and an approval."""

    def for_flag(self, flag: str) -> Readiness:
        """Readiness before a rollout step of ``flag`` is approved."""
        ...

    def for_deploy(self, env: str, files: tuple[str, ...], *, commit: str | None = None) -> Readiness:
        """Readiness before a schema deploy of ``files`` (file names) to ``env`` is approved; with ``[app] repo``
        the files are read at ``commit`` (the deploy's), else at the newest commit of the ref."""
        ...
