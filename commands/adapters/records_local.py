"""Outbox destination for local mode: the files in the app checkout (``app.root``), written directly."""

from __future__ import annotations

import fcntl
from pathlib import Path

from commands.outbox.model import OutboxEntry, apply_entry


class LocalFolderDestination:
    def __init__(self, root: Path) -> None:
        self._root = root

    def describe(self) -> str:
        return f"the folder `{self._root}`"

    def deliver(self, entry: OutboxEntry) -> str:
        path = self._root / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two processes on one checkout must not interleave entries
            try:
                handle.seek(0)
                before = handle.read()
                after = apply_entry(before, entry)
                if after != before:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(after)
                    handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        verb = "appended to" if entry.block is None else "written to"
        return f"{verb} `{entry.path}`"
