"""``zdm schema new "<summary>"``: a timestamped migration file and its ``_rollback.sql`` pair."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from commands.errors import UsageError

FORWARD = """-- {summary}
-- Additive first (runbook §2): add tables, columns (nullable or with a constant default), indexes, views.
-- Dropping, renaming or retyping belongs in a follow-up migration once the new code runs everywhere.
-- zdm applies this file in one transaction with lock_timeout set; `/zdm schema plan <env>` lints it.

"""
ROLLBACK = """-- Rollback of {forward}: {summary}
-- Undo exactly what the forward file does, in reverse order; `/zdm rollback tenant <slug> --schema` applies it.

"""


def new_migration(folder: Path, summary: str, *, now: datetime) -> tuple[Path, Path]:
    """Create both files (never overwriting) and return their paths."""
    slug = re.sub(r"[^a-z0-9]+", "_", summary.lower()).strip("_")[:60]
    if not slug:
        raise UsageError(
            'Give the migration a summary with letters or digits, e.g. `zdm schema new "add orders.total"`.'
        )
    version = f"{now:%Y%m%d%H%M%S}"
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob(f"{version}_*.sql")):
        raise UsageError(f"A migration with version {version} already exists in {folder}; wait a second and retry.")
    forward = folder / f"{version}_{slug}.sql"
    rollback = folder / f"{version}_{slug}_rollback.sql"
    clean = " ".join(summary.split())
    forward.write_text(FORWARD.format(summary=clean), encoding="utf-8")
    rollback.write_text(ROLLBACK.format(forward=forward.name, summary=clean), encoding="utf-8")
    return forward, rollback
