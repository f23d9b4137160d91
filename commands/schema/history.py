"""Supabase-compatible migration files and history.

The Supabase CLI keeps applied migrations in ``supabase_migrations.schema_migrations(version text primary key,
statements text[], name text)``; a file ``<digits>_<name>.sql`` has version ``<digits>``. Each file is applied in
its own transaction with the history row inserted last, so a failing file leaves no trace. ``*_rollback.sql``
files are pairs for going back and are never applied forward. Reading and writing that history is the
``migration_history_pg`` adapter's work; this module is the pure file model.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MIGRATION_FILE = re.compile(r"\A(?P<version>[0-9]{1,30})_(?P<name>.+)\.sql\Z", re.DOTALL)


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path

    @property
    def is_rollback(self) -> bool:
        return self.name.endswith("_rollback")

    @property
    def file_name(self) -> str:
        return self.path.name

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def statements(self) -> list[str]:
        return split_statements(self.text())

    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def list_migrations(folder: Path) -> list[MigrationFile]:
    """Forward migrations in version order (``*_rollback.sql`` excluded)."""
    found = []
    for path in folder.glob("*.sql"):
        match = MIGRATION_FILE.match(path.name)
        if match:
            found.append(MigrationFile(match["version"], match["name"], path))
    return sorted((m for m in found if not m.is_rollback), key=lambda m: (int(m.version), m.name))


def split_statements(sql: str) -> list[str]:
    """Split a SQL script on top-level semicolons, honouring quotes, dollar quotes and comments."""
    return [text for _, text in statement_spans(sql)]


def statement_spans(sql: str) -> list[tuple[int, str]]:
    """Like ``split_statements``, with each statement's offset in ``sql`` (to report file lines)."""
    statements: list[tuple[int, str]] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch and sql.startswith(ch * 2, end):
                    end += 2
                    continue
                if sql[end] == ch:
                    break
                end += 1
            i = end + 1
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z_0-9]*\$", sql[i:])):
            close = sql.find(tag.group(0), i + len(tag.group(0)))
            i = n if close < 0 else close + len(tag.group(0))
        elif ch == ";":
            _append_statement(statements, sql, start, i)
            start = i = i + 1
        else:
            i += 1
    _append_statement(statements, sql, start, n)
    return statements


def _append_statement(statements: list[tuple[int, str]], sql: str, start: int, end: int) -> None:
    text = sql[start:end]
    stripped = text.strip()
    lines = [ln for ln in stripped.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if lines:
        statements.append((start + len(text) - len(text.lstrip()), stripped))
