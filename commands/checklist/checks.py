"""What zdm verifies itself in the release's checkout (``app.root``), each with the evidence it found.

Runbook §1: the migration PR includes the SQL migration, a backfill script, the flag in the flags file and
observability updates; the RFC is updated with the migration scope; the migration is additive (the schema stage's
own lint: zdm's additive-only rule and squawk). "Updated" and "changed" are read from the files' content: the RFC,
and a dashboard or alert file, must mention the release (its name, a migration version or the flag).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from commands.checklist.config import ChecklistConfig, ReleaseSpec
from commands.checklist.model import Check
from commands.errors import UserError
from commands.ports import Linter
from commands.schema.history import MigrationFile, list_migrations
from commands.schema.layout import layout_findings
from commands.schema.lint import Finding, additive_findings

MAX_EVIDENCE = 4


@dataclass(frozen=True)
class CheckoutFacts:
    checks: tuple[Check, ...]
    migrations: tuple[MigrationFile, ...]
    high_volume: bool  # the migrations mention one of checklist.high_volume_tables


def release_migrations(folder: Path, spec: ReleaseSpec) -> list[MigrationFile]:
    """The release's forward migrations in version order (its ``*_rollback.sql`` pairs excluded)."""
    return [m for m in list_migrations(folder) if any(m.path.match(glob) for glob in spec.migrations)]


def check_checkout(
    *, root: Path, migrations_dir: Path, release: str, spec: ReleaseSpec, flag: str, settings: ChecklistConfig,
    linter: Linter, rollbacks_dir: Path = Path("supabase/rollbacks"),
) -> CheckoutFacts:  # fmt: skip
    files = release_migrations(root / migrations_dir, spec)
    mentions = [release, flag, *(m.version for m in files)]
    strays = layout_findings(root / migrations_dir, rollbacks_dir=rollbacks_dir)
    checks = (
        _migrations(files, migrations_dir, spec, strays),
        _additive(files, linter),
        _files_present("backfill", "Backfill script (SQL or TypeScript task)", root, spec.backfill),
        _flag(root, settings.flags_file, flag),
        _mentioned("rfc", "RFC updated with the migration scope", root, (str(settings.rfc),), mentions),
        _mentioned("observability", "Dashboards / alert thresholds updated", root, settings.observability, mentions),
    )
    tables = [t for t in settings.high_volume_tables if any(_mentions_table(m.text(), t) for m in files)]
    return CheckoutFacts(checks, tuple(files), bool(tables))


def _migrations(files: list[MigrationFile], folder: Path, spec: ReleaseSpec, strays: list[Finding]) -> Check:
    text = f"SQL migration under `{folder}/`"
    if not files:
        globs = ", ".join(f"`{g}`" for g in spec.migrations)
        return Check("migrations", text, False, (f"no file in `{folder}/` matches {globs}",))
    if strays:  # the Supabase CLI would push these too (a rollback forward undoes its migration)
        return Check("migrations", text, False, tuple(f"`{f.file}`: {f.message}" for f in strays[:MAX_EVIDENCE]))
    return Check("migrations", text, True, tuple(f"`{m.file_name}`" for m in files[:MAX_EVIDENCE]))


def _additive(files: list[MigrationFile], linter: Linter) -> Check:
    text = "Migration is additive (no drops, renames or type changes; squawk)"
    if not files:
        return Check("additive", text, False, ("no migration to lint",))
    findings = [f for m in files for f in additive_findings(m)]
    try:
        findings += linter.lint(files)
    except UserError as exc:  # squawk missing or broken: the check fails with the reason, nothing crashes
        return Check("additive", text, False, (str(exc),))
    blocking = [f for f in findings if f.blocking]
    if blocking:
        return Check(
            "additive", text, False, tuple(f"`{f.where}` {f.source}/{f.rule}" for f in blocking[:MAX_EVIDENCE])
        )
    review = sum(f.review for f in findings)
    advice = f"; squawk advice: {len(findings) - review}" if len(findings) > review else ""
    advice += f"; {review} statement(s) the deploy's approvers must review (dynamic SQL)" if review else ""
    return Check("additive", text, True, (f"{len(files)} file(s) additive only{advice}",))


def _files_present(key: str, text: str, root: Path, globs: tuple[str, ...]) -> Check:
    found = _glob(root, globs)
    if not found:
        return Check(key, text, False, ("no file matches " + ", ".join(f"`{g}`" for g in globs),))
    return Check(key, text, True, tuple(f"`{p.relative_to(root)}`" for p in found[:MAX_EVIDENCE]))


def _flag(root: Path, flags_file: Path, flag: str) -> Check:
    text = f"Flag `{flag}` in the flags file"
    path = root / flags_file
    if not path.is_file():
        return Check("flag", text, False, (f"`{flags_file}` not found",))
    hit = _first_line(path, (flag,))
    if hit is None:
        return Check("flag", text, False, (f"`{flags_file}` does not mention `{flag}`",))
    return Check("flag", text, True, (f"`{flags_file}:{hit}`",))


def _mentioned(key: str, text: str, root: Path, globs: tuple[str, ...], words: list[str]) -> Check:
    candidates = _glob(root, globs)
    if not candidates:
        return Check(key, text, False, ("no file matches " + ", ".join(f"`{g}`" for g in globs),))
    hits = [(p, line) for p in candidates if (line := _first_line(p, words)) is not None]
    if not hits:
        shown = ", ".join(f"`{p.relative_to(root)}`" for p in candidates[:MAX_EVIDENCE])
        return Check(key, text, False, (f"{shown} do(es) not mention the release, its flag or migration versions",))
    return Check(key, text, True, tuple(f"`{p.relative_to(root)}:{line}`" for p, line in hits[:MAX_EVIDENCE]))


def _glob(root: Path, globs: tuple[str, ...]) -> list[Path]:
    found: dict[Path, None] = {}
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                found[path] = None
    return list(found)


def _first_line(path: Path, words: list[str] | tuple[str, ...]) -> int | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if any(w and w in line for w in words):
            return number
    return None


def _mentions_table(sql: str, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    pattern = rf"\b{re.escape(schema)}\.{re.escape(name)}\b" if schema else rf"\b{re.escape(name)}\b"
    return re.search(pattern, sql, re.IGNORECASE) is not None
