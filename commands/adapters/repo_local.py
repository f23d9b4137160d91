"""The repository port over a local folder (``app.root``): today's behaviour and the demo's default."""

from __future__ import annotations

from pathlib import Path

from commands.repository.ports import Snapshot


class LocalFolderRepository:
    def __init__(self, root: Path) -> None:
        self._root = root

    def checkout(self, ref: str) -> Snapshot:
        return Snapshot(root=self._root, commit=None)

    def at(self, commit: str) -> Snapshot:
        return Snapshot(root=self._root, commit=None)

    def describe(self) -> str:
        return f"the folder `{self._root}`"
