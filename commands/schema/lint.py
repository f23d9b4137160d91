"""Migration lint: our additive-first rule plus squawk's findings, as one list of ``Finding``s.

The additive-first rule (runbook §2): a migration deployed while old code still runs may add, never take away.
Dropped tables, views or columns, renames, column type changes and truncates belong in a follow-up migration
after the new code is adopted everywhere, shipped with its ``*_rollback.sql`` pair.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from commands.schema.history import MigrationFile, statement_spans

FOLLOW_UP = (
    "split it into a follow-up migration deployed after the new code is adopted everywhere (7 stable days), "
    "with a `*_rollback.sql` pair"
)

# Each pattern marks the destructive words with the group "at", whose line is reported.
_DESTRUCTIVE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for rule, pattern in (
        ("drops a table", r"(?P<at>\bdrop\s+table)\b"),
        ("drops a view", r"(?P<at>\bdrop\s+(materialized\s+)?view)\b"),
        ("drops a schema", r"(?P<at>\bdrop\s+schema)\b"),
        (
            "drops a column",
            r"\balter\s+table\b.*?(?P<at>\bdrop\s+(column\b|(?!constraint\b|default\b|not\b|identity\b|expression\b)\w+))",
        ),
        ("renames", r"\balter\s+(table|view|materialized\s+view)\b.*?(?P<at>\brename)\b"),
        (
            "changes a column type",
            r"\balter\s+table\b.*?(?P<at>\balter\s+(column\s+)?\S+\s+(set\s+data\s+)?type)\b",
        ),
        ("empties a table", r"(?P<at>\btruncate)\b"),
    )
)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int  # 1-based
    rule: str
    message: str
    blocking: bool
    source: str  # "zdm" or "squawk"
    statement: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def additive_findings(migration: MigrationFile) -> list[Finding]:
    """One blocking finding per destructive statement, naming the file, line and statement."""
    sql = migration.text()
    found = []
    for offset, statement in statement_spans(sql):
        code = _blank_comments_and_strings(statement)
        for what, pattern in _DESTRUCTIVE:
            match = pattern.search(code)
            if match:
                line = sql.count("\n", 0, offset + match.start("at")) + 1
                found.append(
                    Finding(
                        file=migration.file_name,
                        line=line,
                        rule="additive-only",
                        message=f"not additive: this statement {what}; {FOLLOW_UP}",
                        blocking=True,
                        source="zdm",
                        statement=_one_line(statement),
                    )
                )
                break
    return found


def squawk_findings(report: str, *, names: dict[str, str], blocking: tuple[str, ...]) -> list[Finding]:
    """Findings from ``squawk --reporter json`` output. ``names`` maps the paths squawk saw to file names."""
    try:
        items: list[dict[str, Any]] = json.loads(report or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"squawk printed something that is not its JSON report: {report[:120]!r}") from exc
    found = []
    for item in items:
        rule = str(item.get("rule_name") or "squawk")
        path = str(item.get("file") or "")
        help_text = f" {item['help']}" if item.get("help") else ""
        found.append(
            Finding(
                file=names.get(path, path.rsplit("/", 1)[-1]),
                line=int(item.get("line") or 0) + 1,  # squawk counts lines from 0
                rule=rule,
                message=f"{item.get('message', '')}{help_text}".strip(),
                blocking=rule in blocking,
                source="squawk",
            )
        )
    return sorted(found, key=lambda f: (f.file, f.line, f.rule))


def _blank_comments_and_strings(sql: str) -> str:
    """Replace comments and quoted text by spaces (same length), so keywords inside them do not match."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return re.sub(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$", blank, sql, flags=re.DOTALL)


def _one_line(statement: str, limit: int = 140) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
