"""Where migration files live, so the Supabase CLI never applies a rollback forward.

The Supabase CLI treats every ``<digits>_<name>.sql`` in ``supabase/migrations/`` as a migration to push, a
``*_rollback.sql`` included: ``supabase db push`` would run the rollback forward (undoing its migration) or fail on
a duplicate version. zdm keeps rollback pairs in ``app.rollbacks_dir`` (default ``supabase/rollbacks/``), looks
them up there first and, for runbook compatibility, in the migrations folder; any file in the migrations folder the
CLI would push but zdm would not is a blocking finding. ``zdm schema move-rollbacks`` moves them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from commands.errors import UserError
from commands.schema.history import MIGRATION_FILE
from commands.schema.lint import Finding

# what the Supabase CLI (v2) counts as a migration file in supabase/migrations
CLI_MIGRATION_FILE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")


class RollbackMoveConflict(UserError):
    """A rollback file cannot be moved because a different file of that name is already in the rollbacks folder."""


def find_rollback(version: str, *, rollbacks: Path, migrations: Path) -> Path | None:
    """The ``<version>_*_rollback.sql`` pair: in the rollbacks folder first, then in the migrations folder."""
    for folder in (rollbacks, migrations):
        matches = sorted(folder.glob(f"{version}_*_rollback.sql")) if folder.is_dir() else []
        if matches:
            return matches[0]
    return None


def rollback_pairs(versions: list[str], *, rollbacks: Path, migrations: Path) -> dict[str, Path]:
    """version → its rollback file, for those of ``versions`` that have one."""
    found = {v: find_rollback(v, rollbacks=rollbacks, migrations=migrations) for v in versions}
    return {v: path for v, path in found.items() if path is not None}


def cli_only_files(migrations: Path) -> list[Path]:
    """Files in the migrations folder the Supabase CLI would push that zdm never applies forward."""
    if not migrations.is_dir():
        return []
    found = []
    for path in sorted(migrations.glob("*.sql")):
        if not CLI_MIGRATION_FILE.match(path.name):
            continue
        ours = MIGRATION_FILE.match(path.name)
        if ours is None or ours["name"].endswith("_rollback"):
            found.append(path)
    return found


def layout_findings(migrations: Path, *, rollbacks_dir: Path) -> list[Finding]:
    """One blocking finding per file in the migrations folder that ``supabase db push`` would misapply."""
    found = []
    for path in cli_only_files(migrations):
        version = CLI_MIGRATION_FILE.match(path.name)
        assert version is not None
        if path.name.endswith("_rollback.sql"):
            what = (
                f"`supabase db push` would apply this rollback forward as migration {version['version']} (undoing "
                "its migration, or failing on a duplicate version) and `supabase migration list` shows it pending"
            )
            fix = f"move it to `{rollbacks_dir.as_posix()}/` (`zdm schema move-rollbacks` does it)"
        else:
            what = "`supabase db push` would apply this file, but zdm does not count it as a migration"
            fix = "rename it `<timestamp>_<name>.sql` or move it out of the migrations folder"
        found.append(
            Finding(
                file=path.name,
                line=1,
                rule="cli-would-apply",
                message=f"{what}; {fix}",
                blocking=True,
                source="zdm",
            )
        )
    return found


def move_rollbacks(migrations: Path, rollbacks: Path) -> list[tuple[Path, Path]]:
    """Move every ``*_rollback.sql`` out of the migrations folder into the rollbacks folder; return the moves.

    A file already in the rollbacks folder with the same bytes is not a conflict (the stray copy is removed); one
    with other bytes stops everything before anything moves."""
    strays = [p for p in cli_only_files(migrations) if p.name.endswith("_rollback.sql")]
    for path in strays:
        target = rollbacks / path.name
        if target.exists() and target.read_bytes() != path.read_bytes():
            raise RollbackMoveConflict(
                f"`{target}` already exists with other content than `{path}`; compare them, keep one, then retry"
            )
    rollbacks.mkdir(parents=True, exist_ok=True)
    moves = []
    for path in strays:
        target = rollbacks / path.name
        if target.exists():
            path.unlink()
        else:
            shutil.move(path, target)
        moves.append((path, target))
    return moves
