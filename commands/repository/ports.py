"""The application's repository as a port: its files are read *at a commit*.

Two adapters: the local folder (``app.root``; the demo, no commits) and git (``[app] repo``: a cache clone,
fetched before every plan and deploy). A schema plan names the commit it read; approvals bind to it, and a deploy
applies exactly that commit's files even if the branch has moved on since.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Snapshot:
    """The files of one commit, laid out under ``root`` (read-only by convention)."""

    root: Path
    commit: str | None  # None: the local folder, which has no commit


class Repository(Protocol):
    def checkout(self, ref: str) -> Snapshot:
        """Fetch, then the files of ``ref``'s newest commit (a branch or a tag)."""
        ...

    def at(self, commit: str) -> Snapshot:
        """The files of exactly ``commit`` (fetched if the cache does not have it yet)."""
        ...

    def describe(self) -> str: ...
