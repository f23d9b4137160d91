"""Lighthouse runs in the bot's state database (``zdm.lighthouse_runs`` and ``zdm.lighthouse_drops``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from commands.adapters.locks import PgLocks
from commands.lighthouse.report import Report, Ticketed

LIGHTHOUSE_LOCK = (0x7A6C, 1)


class PgLighthouseRuns:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def exclusive(self) -> AbstractContextManager[bool]:
        return self._locks.hold(LIGHTHOUSE_LOCK)

    def known(self, report: Report) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select 1 from zdm.lighthouse_runs where page = %s and fetched_at = %s",
                (report.page, report.fetched_at),
            ).fetchone()
        return row is not None

    def previous(self, page: str, *, before: datetime) -> Report | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select page, fetched_at, scores, titles, version from zdm.lighthouse_runs"
                " where page = %s and fetched_at < %s order by fetched_at desc limit 1",
                (page, before),
            ).fetchone()
        if row is None:
            return None
        scores = {str(k): (float(v) if v is not None else None) for k, v in dict(row[2]).items()}
        return Report(page=row[0], fetched_at=row[1], scores=scores, titles=dict(row[3]), version=row[4])

    def record(
        self, report: Report, *, archive_path: str, sha256: str, at: datetime, tickets: Sequence[Ticketed]
    ) -> bool:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "insert into zdm.lighthouse_runs"
                " (page, fetched_at, scores, titles, version, archive_path, sha256, ingested_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (page, fetched_at) do nothing returning id",
                (
                    report.page,
                    report.fetched_at,
                    Jsonb(dict(report.scores)),
                    Jsonb(dict(report.titles)),
                    report.version,
                    archive_path,
                    sha256,
                    at,
                ),
            ).fetchone()
            if row is None:
                return False
            for ticket in tickets:
                conn.execute(
                    "insert into zdm.lighthouse_drops (run_id, category, baseline, score, ticket_url, opened)"
                    " values (%s, %s, %s, %s, %s, %s)",
                    (row[0], ticket.drop.category, ticket.drop.baseline, ticket.drop.score, ticket.url, ticket.opened),
                )
        return True
