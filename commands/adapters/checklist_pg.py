"""Checklist ticks in the bot's state database (``zdm.checklist_ticks``: every tick and untick is kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from commands.checklist.model import Tick


class PgChecklistTicks:
    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def record(self, *, release: str, item: str, ticked: bool, actor: str, at: datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "insert into zdm.checklist_ticks (release, item, ticked, actor, at) values (%s, %s, %s, %s, %s)",
                (release, item, ticked, actor, at),
            )

    def latest(self, release: str) -> dict[str, Tick]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select distinct on (item) item, ticked, actor, at from zdm.checklist_ticks"
                " where release = %s order by item, id desc",
                (release,),
            ).fetchall()
        return {str(r[0]): Tick(str(r[0]), bool(r[1]), str(r[2]), r[3]) for r in rows}
