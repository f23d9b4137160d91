"""The bot's own state schema: ``commands/store/migrations/NNNN_name.sql``, applied at start-up.

``commands.adapters.store_pg.migrate_state`` applies them: idempotent and safe with several replicas starting at
once (the whole run holds a session advisory lock, and each file is applied in its own transaction together with its
``zdm.schema_version`` row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

LOCK_KEY = 0x7A646D  # "zdm"
FILE_NAME = re.compile(r"\A([0-9]{4})_([a-z0-9_]+)\.sql\Z")


@dataclass(frozen=True)
class StateMigration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[StateMigration]:
    folder = resources.files("commands.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            found.append(StateMigration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def pending_versions(done: set[object]) -> list[int]:
    """Versions of the bundled migrations not in ``done``."""
    return [m.version for m in bundled_migrations() if m.version not in done]
