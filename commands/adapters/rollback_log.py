"""The human rollback log (``docs/runbooks/rollback-log.md``): append-only, one entry per rollback id."""

from __future__ import annotations

import fcntl
from pathlib import Path

HEADER = "# Rollback log\n\nEntries are appended by zdm; fill in the remediation tasks by hand.\n\n"


class MarkdownRollbackLog:
    def __init__(self, path: Path) -> None:
        self._path = path

    def append(self, *, marker: str, text: str) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two replicas on one checkout must not interleave entries
            try:
                handle.seek(0)
                existing = handle.read()
                if marker in existing:
                    return False
                if not existing:
                    handle.write(HEADER)
                elif not existing.endswith("\n\n"):
                    handle.write("\n" if existing.endswith("\n") else "\n\n")
                handle.write(text)
                handle.flush()
                return True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
