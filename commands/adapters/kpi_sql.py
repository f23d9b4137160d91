"""KPI readings from SQL on the target database (the query is ``rollout.gates.query`` in zdm.toml).

The query gets ``%(tenants)s`` (text[]), ``%(since)s`` and ``%(until)s`` and returns one row:
``samples, errors, p95_ms, guardrail_breaches``. The default reads the demo app's ``public.request_metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from commands.rollout.gates import KpiReading


class SqlKpiSource:
    """``pool`` should hand out read-only sessions (see ``bot.bootstrap``): the query comes from zdm.toml."""

    def __init__(self, pool: ConnectionPool[Any], *, query: str) -> None:
        self._pool = pool
        self._query = query.strip().rstrip(";")

    def read(self, tenants: Sequence[str], windows: Sequence[tuple[datetime, datetime]]) -> list[KpiReading]:
        return self.read_many([(tenants, windows)])[0]

    def read_many(
        self, requests: Sequence[tuple[Sequence[str], Sequence[tuple[datetime, datetime]]]]
    ) -> list[list[KpiReading]]:
        """Every window of every request in one pipelined round trip; the answers in the requests' order."""
        with self._pool.connection() as conn:
            with conn.pipeline():
                cursors = [
                    [
                        conn.execute(self._query.encode(), {"tenants": list(tenants), "since": since, "until": until})
                        for since, until in windows
                    ]
                    for tenants, windows in requests
                ]
            return [
                _readings(windows, [c.fetchone() for c in sent])
                for (_, windows), sent in zip(requests, cursors, strict=True)
            ]


def _readings(windows: Sequence[tuple[datetime, datetime]], rows: Sequence[Any]) -> list[KpiReading]:
    readings = []
    for (since, until), row in zip(windows, rows, strict=True):
        samples, errors, p95, breaches = row if row else (0, 0, None, 0)
        readings.append(
            KpiReading(
                since=since,
                until=until,
                samples=int(samples or 0),
                errors=int(errors or 0),
                p95_ms=float(p95) if p95 is not None else None,
                guardrail_breaches=int(breaches or 0),
            )
        )
    return readings
