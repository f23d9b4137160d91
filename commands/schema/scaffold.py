"""``zdm schema new "<summary>"``: a timestamped migration file and its ``_rollback.sql`` pair.

The migration goes to the migrations folder, its pair to the rollbacks folder (``app.rollbacks_dir``), where the
Supabase CLI never sees it: in ``supabase/migrations/`` the CLI would push the rollback forward.
"""

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
-- This folder is outside supabase/migrations on purpose: `supabase db push` would apply it forward there.
-- `/zdm schema plan` checks the round trip: the migration, this file, then the migration again.

"""


def new_migration(folder: Path, summary: str, *, rollbacks: Path, now: datetime) -> tuple[Path, Path]:
    """Create the migration in ``folder`` and its pair in ``rollbacks`` (never overwriting); return their paths."""
    slug = re.sub(r"[^a-z0-9]+", "_", summary.lower()).strip("_")[:60]
    if not slug:
        raise UsageError(
            'Give the migration a summary with letters or digits, e.g. `zdm schema new "add orders.total"`.'
        )
    version = f"{now:%Y%m%d%H%M%S}"
    for place in (folder, rollbacks):
        if place.is_dir() and any(place.glob(f"{version}_*.sql")):
            raise UsageError(f"A migration with version {version} already exists in {place}; wait a second and retry.")
    folder.mkdir(parents=True, exist_ok=True)
    rollbacks.mkdir(parents=True, exist_ok=True)
    forward = folder / f"{version}_{slug}.sql"
    rollback = rollbacks / f"{version}_{slug}_rollback.sql"
    clean = " ".join(summary.split())
    forward.write_text(FORWARD.format(summary=clean), encoding="utf-8")
    rollback.write_text(ROLLBACK.format(forward=forward.name, summary=clean), encoding="utf-8")
    return forward, rollback
