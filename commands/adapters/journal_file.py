"""The degraded-mode rollback journal as a file: append-only JSON lines, each fsynced before ``append`` returns."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from commands.rollback.journal import JournalRecord

log = logging.getLogger(__name__)


class FileRollbackJournal:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def claim(self, record: JournalRecord, *, request_id: str) -> bool:
        with self._lock:
            if request_id and any(r.data.get("request_id") == request_id for r in self._read()):
                return False
            self._write(record)
            return True

    def append(self, record: JournalRecord) -> None:
        with self._lock:
            self._write(record)

    def records(self) -> Sequence[JournalRecord]:
        with self._lock:
            return self._read()

    def _write(self, record: JournalRecord) -> None:
        line = json.dumps({"uid": record.uid, "kind": record.kind, "at": record.at, "data": dict(record.data)})
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a+b") as handle:
            if handle.tell() > 0:  # a line torn by a crash mid-write must not swallow this one
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = "\n" + line
            handle.write((line + "\n").encode())
            handle.flush()
            os.fsync(handle.fileno())

    def _read(self) -> list[JournalRecord]:
        if not self._path.exists():
            return []
        found: list[JournalRecord] = []
        for number, line in enumerate(self._path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                raw = json.loads(line)
                found.append(JournalRecord(uid=raw["uid"], kind=raw["kind"], at=raw["at"], data=raw.get("data", {})))
            except (ValueError, KeyError, TypeError):  # a line torn by a crash mid-write: its step did not finish
                log.warning("rollback journal %s line %d is unreadable; skipped", self._path, number)
        return found
