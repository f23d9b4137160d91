"""Migration lint: our additive-first rule, read by Postgres's own parser (libpg_query via pglast), plus squawk's
findings, as one list of ``Finding``s.

The additive-first rule (runbook §2): a migration deployed while old code still runs may add, never take away.
Dropping any object (table, view, column, schema, function, trigger, policy, type, index, constraint, sequence…),
renames, ``set schema``, column type changes, ``drop not null`` / ``drop default``, ``revoke``, ``truncate`` and
``delete`` / ``update`` without ``where`` belong in a follow-up migration after the new code is adopted
everywhere, shipped with its ``*_rollback.sql`` pair. SQL the parser cannot see through (``do`` blocks,
``execute``, ``call``) needs review: the deploy's approvers acknowledge it on the card; without approvers it blocks.
Each finding quotes the statement (never a comment) and the line of its words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums
from pglast.parser import ParseError, parse_sql, scan

from commands.schema.history import MigrationFile, statement_spans

FOLLOW_UP = (
    "split it into a follow-up migration deployed after the new code is adopted everywhere (7 stable days), "
    "with a `*_rollback.sql` pair"
)
REVIEW = (
    "the parser cannot see what this runs; the deploy's approvers acknowledge it by approving (an environment "
    "without approvers cannot deploy it)"
)
_ALTER_TABLE_DESTRUCTIVE = {
    enums.AlterTableType.AT_DropColumn: ("drops a column", "DROP"),
    enums.AlterTableType.AT_DropConstraint: ("drops a constraint", "DROP"),
    enums.AlterTableType.AT_AlterColumnType: ("changes a column type", "TYPE_P"),
    enums.AlterTableType.AT_DropNotNull: ("drops a not-null constraint", "DROP"),
    enums.AlterTableType.AT_DropIdentity: ("drops an identity", "DROP"),
    enums.AlterTableType.AT_DropExpression: ("drops a generation expression", "DROP"),
    enums.AlterTableType.AT_DropInherit: ("drops an inheritance", "DROP"),
    enums.AlterTableType.AT_DetachPartition: ("detaches a partition", "DETACH"),
}
_COMMENTS = ("SQL_COMMENT", "C_COMMENT")


@dataclass(frozen=True)
class Finding:
    file: str
    line: int  # 1-based
    rule: str
    message: str
    blocking: bool
    source: str  # "zdm" or "squawk"
    statement: str = ""
    review: bool = False  # dynamic SQL: blocking unless the deploy's approvers acknowledge it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def additive_findings(migration: MigrationFile) -> list[Finding]:
    """One finding per destructive or unreadable statement, naming the file, line and statement.

    The file is cut into statements exactly as zdm applies them (``statement_spans``), and each piece is read by
    the parser on its own: the lint sees what runs, even where zdm's splitter and the parser would disagree."""
    sql = migration.text()
    found = []
    for offset, piece in statement_spans(sql):
        try:
            statements = parse_sql(piece)
        except ParseError as exc:
            where = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            found.append(
                Finding(
                    file=migration.file_name,
                    line=sql.count("\n", 0, offset + where) + 1,
                    rule="parse-error",
                    message=f"Postgres's parser cannot read this statement: {exc.args[0]}",
                    blocking=True,
                    source="zdm",
                    statement=_one_line(piece),
                )
            )
            continue
        for raw in statements:
            start = raw.stmt_location or 0
            stop = start + raw.stmt_len if raw.stmt_len else len(piece)
            verdict = _verdict(raw.stmt) if raw.stmt is not None else None
            if verdict is None:
                continue
            what, keyword, review = verdict
            at, text = _locate(piece, start, stop, keyword)
            found.append(
                Finding(
                    file=migration.file_name,
                    line=sql.count("\n", 0, offset + at) + 1,
                    rule="needs-review" if review else "additive-only",
                    message=f"needs review: this statement {what}; {REVIEW}"
                    if review
                    else f"not additive: this statement {what}; {FOLLOW_UP}",
                    blocking=not review,
                    source="zdm",
                    statement=_one_line(text),
                    review=review,
                )
            )
    return found


def _verdict(node: ast.Node) -> tuple[str, str, bool] | None:
    """(what it does, the scanner token where it says so, needs review) for a statement that is not additive."""
    if isinstance(node, ast.DropStmt):
        kind = enums.ObjectType(node.removeType or 0).name.removeprefix("OBJECT_").lower().replace("_", " ")
        kind = {"matview": "materialized view", "tabconstraint": "constraint", "foreign table": "foreign table"}.get(
            kind, kind
        )
        return f"drops {_a(kind)}", "DROP", False
    if type(node).__name__.startswith("Drop"):  # database, role, owned objects, tablespace, subscription …
        noun = type(node).__name__.removeprefix("Drop").removesuffix("Stmt").lower()
        return f"drops {_a('database' if noun == 'db' else noun)}", "DROP", False
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            if cmd.subtype in _ALTER_TABLE_DESTRUCTIVE:
                what, keyword = _ALTER_TABLE_DESTRUCTIVE[enums.AlterTableType(cmd.subtype)]
                return what, keyword, False
            if cmd.subtype == enums.AlterTableType.AT_ColumnDefault and cmd.def_ is None:
                return "drops a column default", "DROP", False
        return None
    if isinstance(node, ast.RenameStmt):
        return "renames", "RENAME", False
    if isinstance(node, ast.AlterObjectSchemaStmt):
        return "moves an object to another schema (set schema)", "SCHEMA", False
    if isinstance(node, (ast.GrantStmt, ast.GrantRoleStmt)) and not node.is_grant:
        return "revokes privileges old code may use", "REVOKE", False
    if isinstance(node, ast.TruncateStmt):
        return "empties a table", "TRUNCATE", False
    if isinstance(node, ast.DeleteStmt) and node.whereClause is None:
        return "deletes every row of a table (no where)", "DELETE_P", False
    if isinstance(node, ast.UpdateStmt) and node.whereClause is None:
        return "updates every row of a table (no where)", "UPDATE", False
    if isinstance(node, ast.DoStmt):
        return "runs a `do` block", "DO", True
    if isinstance(node, ast.ExecuteStmt):
        return "executes a prepared statement", "EXECUTE", True
    if isinstance(node, ast.CallStmt):
        return "calls a procedure", "CALL", True
    return None


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _locate(sql: str, start: int, stop: int, keyword: str) -> tuple[int, str]:
    """Where the statement's ``keyword`` is (the first one outside comments; else the statement's start), and the
    statement's text without comments (the parser's span may begin with the comments before it)."""
    chunk = sql[start:stop]
    tokens = scan(chunk)
    code = [t for t in tokens if t.name not in _COMMENTS]
    if not code:
        return start, chunk.strip()
    begin = code[0].start
    at = next((t.start for t in code if t.name == keyword), begin)
    pieces, since = [], begin
    for token in tokens:
        if token.name in _COMMENTS and token.start > begin:
            pieces.append(chunk[since : token.start])
            since = token.end + 1
    pieces.append(chunk[since:])
    return start + at, "".join(pieces).strip().rstrip(";").strip()


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


def _one_line(statement: str, limit: int = 140) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
