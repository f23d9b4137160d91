"""What only ``zdm demo`` needs: synthetic traffic for the demo app, and a demo clock that survives restarts.

Synthetic request traffic gives the KPI gates something to read. Only ``zdm demo`` runs it (never against a
configured target database). Every tick it writes request metrics for the tenants whose flag is on, spread over
the clock time since the previous tick. It is healthy (no errors, P95 about 250 ms) until ``error_rate`` is
raised from the shell (``traffic 5``) to watch a breach pause a rollout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

CLOCK_FILE = "demo-clock"
PER_TENANT_PER_MINUTE = 40
MAX_PER_MINUTE = 300
MAX_BACKFILL = timedelta(hours=1)


class DemoTraffic:
    def __init__(self, pool: ConnectionPool[Any], *, flag: str, flag_table: str, error_rate: float = 0.0) -> None:
        schema, name = flag_table.split(".", 1)
        self._pool = pool
        self._flag = flag
        self._table = sql.Identifier(schema, name)
        self.error_rate = error_rate
        self.tenant_error_rates: dict[str, float] = {}  # an error burst for one tenant (`traffic 5 pilot_a`)
        self._last: datetime | None = None

    def set_error_rate(self, rate: float, tenant: str | None = None) -> None:
        """For every tenant (clearing per-tenant bursts), or for one tenant."""
        if tenant is None:
            self.error_rate = rate
            self.tenant_error_rates.clear()
        else:
            self.tenant_error_rates[tenant] = rate

    def __call__(self, now: datetime) -> int:
        """Write the requests between the previous call and ``now`` (at most an hour's worth); return how many."""
        since = max(self._last or now - timedelta(minutes=20), now - MAX_BACKFILL)
        self._last = now
        minutes = (now - since).total_seconds() / 60
        if minutes <= 0:
            return 0
        query = sql.SQL(
            "with on_flag as (select array_agg(tenant_slug) as slugs from {t} where flag = %(flag)s and enabled),"
            " picks as (select slugs[1 + floor(random() * cardinality(slugs))::int] as slug from on_flag,"
            "  generate_series(1, (least(%(per_tenant)s * cardinality(slugs), %(cap)s) * %(minutes)s)::int)"
            "  where cardinality(slugs) > 0)"
            " insert into public.request_metrics (tenant_slug, at, route, status, latency_ms, guardrail_breach)"
            " select slug, %(since)s + (%(now)s - %(since)s) * random(), '/orders',"
            "  case when random() < coalesce((%(rates)s::jsonb ->> slug)::float8, %(error_rate)s)"
            "   then 500 else 200 end,"
            "  (40 + random() * 220)::int, false"
            " from picks"
        ).format(t=self._table)
        params = {"flag": self._flag, "since": since, "now": now, "error_rate": self.error_rate}
        params["rates"] = Jsonb(self.tenant_error_rates)
        params |= {"per_tenant": PER_TENANT_PER_MINUTE, "cap": MAX_PER_MINUTE, "minutes": minutes}
        with self._pool.connection() as conn:
            return int(conn.execute(query, params).rowcount)


def demo_start_time(data_dir: Path) -> datetime:
    """Where the demo clock starts: now, or where the previous demo run left it if that is later (the demo's
    rollouts live on in the data folder, and their clock must not run backwards)."""
    now = datetime.now(UTC)
    try:
        saved = datetime.fromisoformat((data_dir / CLOCK_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return now
    return max(now, saved)


def remember_demo_time(data_dir: Path, at: datetime) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / CLOCK_FILE).write_text(at.isoformat(), encoding="utf-8")
