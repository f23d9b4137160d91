"""Rollback readiness's probes: ``to_regproc`` in a Postgres database, and executables on a PATH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
CONNECT_TIMEOUT_S = 5


class PgRoutineLookup:
    """``to_regproc`` through a connection factory (a pool's ``connection``, or a URL opened per call)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    @classmethod
    def from_url(cls, url: str) -> PgRoutineLookup:
        return cls(lambda: psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S))

    def routine_exists(self, name: str) -> bool:
        with self._connect() as conn:
            row = conn.execute("select to_regproc(%s) is not null", (name,)).fetchone()
        return bool(row and row[0])


class PathProgramFinder:
    def which(self, program: str, *, path: str | None, cwd: Path) -> str | None:
        if os.sep in program:
            candidate = Path(program) if Path(program).is_absolute() else cwd / program
            return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
        return shutil.which(program, path=path)
