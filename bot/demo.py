"""What only ``zdm demo`` needs: synthetic traffic for the demo app, and a demo clock that survives restarts.

Synthetic request traffic gives the KPI gates and alerts something to read. Only ``zdm demo`` runs it. Every
simulated minute the clock passes gets requests for the tenants whose flag is on — written when the scheduler
ticks and before each shell command, so a reading at any moment sees every minute before it. The traffic is
deterministic: each tenant has fixed request slots (an ``internal`` tenant 20 a minute, a ``pilot`` 40, any other
one every 5 minutes), a fixed latency pattern (P95 about 250 ms) and exactly its error rate of failures, spread
evenly (``traffic 5 pilot_a``: every 20th of pilot_a's requests fails, two a minute). Minutes more than an hour
before the clock's ``now`` (``advance 7d``) get one request a minute in turn across the tenants, so a week is ten
thousand rows, written by one statement; a flag on for so many tenants that their slots exceed 300 a minute gets 300
a minute in turn across them.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

CLOCK_FILE = "demo-clock"
DETAILED = timedelta(hours=1)  # minutes this close to `now` get every tenant's full traffic
MAX_PER_MINUTE = 300  # a flag on for more tenants than this carries: requests in turn across them instead
FIRST_CALL = timedelta(hours=1)  # what the first call writes (replacing what was there, e.g. the seed's metrics)
MINUTE = timedelta(minutes=1)

# tenants whose flag is on, numbered; their request slots per active minute and how often a minute is active
_TRAFFIC_SQL = """
with tenants as (
  select f.tenant_slug as slug, (row_number() over (order by f.tenant_slug) - 1)::int as k,
         count(*) over ()::int as n,
         case t.tier when 'pilot' then 40 when 'internal' then 20 else 1 end as slots,
         case when t.tier in ('pilot', 'internal') then 1 else 5 end as period,
         coalesce((%(rates)s::jsonb ->> f.tenant_slug)::numeric, %(error_rate)s::numeric) as rate
  from {flags} f left join public.tenants t on t.slug = f.tenant_slug
  where f.flag = %(flag)s and f.enabled
),
fits as (select coalesce(sum(slots::numeric / period), 0) <= %(cap)s as ok, greatest(count(*), 1)::int as n
         from tenants),
minutes as (
  select m, (extract(epoch from m)::bigint / 60) as mi, m >= %(detailed)s and fits.ok as detailed, fits.n,
         case when m >= %(detailed)s then %(cap)s else 1 end as per
  from generate_series(date_trunc('minute', %(since)s::timestamptz), %(now)s::timestamptz, interval '1 minute') m,
       fits
),
slots as (
  select t.slug, t.k, t.rate, mm.mi, i,
         mm.m + (i + 0.5) * interval '60 seconds' / t.slots as at,
         (mm.mi / t.period) * t.slots + i as q
  from minutes mm join tenants t on mm.detailed and (mm.mi + t.k) %% t.period = 0
  cross join lateral generate_series(0, t.slots - 1) as i
  union all
  select t.slug, t.k, t.rate, mm.mi, j, mm.m + (j + 0.5) * interval '60 seconds' / mm.per, (mm.mi * mm.per + j) / mm.n
  from minutes mm cross join lateral generate_series(0, mm.per - 1) as j
  join tenants t on t.k = (mm.mi * mm.per + j) %% mm.n
  where not mm.detailed
)
insert into public.request_metrics (tenant_slug, at, route, status, latency_ms, guardrail_breach)
select slug, at, '/orders',
       case when floor((q + 1) * rate) > floor(q * rate) then 500 else 200 end,
       40 + ((k * 131 + mi * 17 + i * 29) %% 220)::int, false
from slots where at >= %(since)s and at < %(now)s
"""


class DemoTraffic:
    def __init__(
        self,
        pool: ConnectionPool[Any],
        *,
        flag: str,
        flag_table: str,
        error_rate: float = 0.0,
        lead: timedelta = timedelta(0),
    ) -> None:
        """``lead``: write that far ahead of ``now`` — for a running demo clock, whose ``now`` has moved on by the
        time a KPI is read (at 2000× a real second is half an hour)."""
        schema, name = flag_table.split(".", 1)
        self._lead = lead
        self._pool = pool
        self._flag = flag
        self._query = sql.SQL(_TRAFFIC_SQL).format(flags=sql.Identifier(schema, name))
        self.error_rate = error_rate
        self.tenant_error_rates: dict[str, float] = {}  # an error burst for one tenant (`traffic 5 pilot_a`)
        self._last: datetime | None = None
        self._lock = threading.Lock()  # the scheduler's tick and the shell both write

    def set_error_rate(self, rate: float, tenant: str | None = None, *, now: datetime | None = None) -> None:
        """For every tenant (clearing per-tenant bursts), or for one tenant; from ``now`` on (requests written
        ahead of it are written again at the next call)."""
        with self._lock:
            if now is not None and self._last is not None and self._last > now:
                with self._pool.connection() as conn:
                    conn.execute("delete from public.request_metrics where at >= %s", (now,))
                self._last = now
            if tenant is None:
                self.error_rate = rate
                self.tenant_error_rates.clear()
            else:
                self.tenant_error_rates[tenant] = rate

    def __call__(self, now: datetime) -> int:
        """Write the requests of every minute between the previous call and ``now`` (plus the lead); return how
        many."""
        with self._lock:
            first = self._last is None
            since = now - FIRST_CALL if self._last is None else self._last
            until = now + self._lead
            if until <= since:
                return 0
            params = {
                "flag": self._flag,
                "since": since,
                "now": until,
                "detailed": now - DETAILED,
                "cap": MAX_PER_MINUTE,
                "error_rate": _exact(self.error_rate),
                "rates": Jsonb({slug: str(_exact(rate)) for slug, rate in self.tenant_error_rates.items()}),
            }
            with self._pool.connection() as conn, conn.transaction():
                if first:  # from here on the requests are the demo's: replace whatever was there (the seed's)
                    conn.execute("delete from public.request_metrics where at >= %s", (since,))
                written = int(conn.execute(self._query, params).rowcount)
            self._last = until
            return written


def _exact(rate: float) -> Decimal:
    """0.05 as the decimal 0.05, so exactly every 20th request fails (binary floats are a hair off)."""
    return Decimal(repr(rate))


def demo_start_time(data_dir: Path) -> datetime:
    """Where the demo clock starts: now, or where the previous demo run left it if that is later (the demo's
    rollouts live on in the data folder, and their clock must not run backwards)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # whole minutes: every run sees the same readings
    try:
        saved = datetime.fromisoformat((data_dir / CLOCK_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return now
    whole = saved.replace(second=0, microsecond=0)
    return max(now, whole if whole == saved else whole + MINUTE)  # on a whole minute, never before the saved time


def remember_demo_time(data_dir: Path, at: datetime) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / CLOCK_FILE).write_text(at.isoformat(), encoding="utf-8")
