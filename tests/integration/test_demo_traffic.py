"""The demo's synthetic traffic: every simulated minute, deterministic per-tenant volumes and error rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.bootstrap import Container
from bot.demo import DemoTraffic
from tests.conftest import Databases

FLAG = "tenant.enableNewProfile"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def counts(dbs: Databases, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    with dbs.target() as conn:
        rows = conn.execute(
            "select tenant_slug, count(*), count(*) filter (where status >= 500) from public.request_metrics"
            " where at >= %s and at < %s group by 1",
            (since, until),
        ).fetchall()
    return {slug: (n, errors) for slug, n, errors in rows}


def test_every_minute_gets_exactly_its_tenants_volume_and_error_rate(container: Container, dbs: Databases) -> None:
    traffic = DemoTraffic(container.target_pool, flag=FLAG, flag_table="public.feature_flags")
    traffic(T0)  # the first call writes the hour before
    assert counts(dbs, T0 - timedelta(hours=1), T0) == {"pilot_a": (2400, 0), "pilot_b": (2400, 0)}
    traffic.set_error_rate(0.05, "pilot_a")
    for minute in (1, 2, 5, 10):  # however the calls fall, each minute is written once
        traffic(T0 + minute * M + timedelta(seconds=7))
    assert counts(dbs, T0, T0 + 10 * M) == {"pilot_a": (400, 20), "pilot_b": (400, 0)}
    traffic.set_error_rate(0.002)  # every tenant, clearing the burst: one in 500 requests
    traffic(T0 + 60 * M)
    assert counts(dbs, T0 + 11 * M, T0 + 36 * M) == {"pilot_a": (1000, 2), "pilot_b": (1000, 2)}


def test_a_week_is_one_cheap_statement_with_every_minute_covered(container: Container, dbs: Databases) -> None:
    with dbs.target() as conn:
        conn.execute("update public.feature_flags set enabled = true where flag = %s", (FLAG,))
        conn.execute(
            "insert into public.feature_flags (tenant_slug, flag, enabled) select slug, %s, true"
            " from public.tenants on conflict (tenant_slug, flag) do update set enabled = true",
            (FLAG,),
        )
    traffic = DemoTraffic(container.target_pool, flag=FLAG, flag_table="public.feature_flags")
    traffic(T0)
    written = traffic(T0 + timedelta(days=7))
    minutes = 7 * 24 * 60
    detailed = 60 * (300 // 5 + 5 * 40 + 20)  # the last hour: 300 GA tenants every 5 minutes, 5 pilots, demo
    assert written == minutes - 60 + detailed
    with dbs.target() as conn:
        empty = conn.execute(
            "select count(*) from generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute',"
            " interval '1 minute') m where not exists (select 1 from public.request_metrics r"
            " where r.at >= m and r.at < m + interval '1 minute')",
            (T0, T0 + timedelta(days=7)),
        ).fetchone()[0]
    assert empty == 0


def test_a_flag_on_for_more_tenants_than_a_minute_carries_gets_them_in_turn(
    container: Container, dbs: Databases
) -> None:
    with dbs.target() as conn:
        conn.execute(
            "insert into public.tenants (slug, name, tier, display_name)"
            " select 'bulk_' || i, 'Bulk ' || i, 'pilot', 'B' from generate_series(1, 20) as i"
        )
        conn.execute(
            "insert into public.feature_flags (tenant_slug, flag, enabled) select slug, %s, true"
            " from public.tenants where slug like 'bulk_%%'",
            (FLAG,),
        )
    traffic = DemoTraffic(container.target_pool, flag=FLAG, flag_table="public.feature_flags")
    traffic(T0)
    assert traffic(T0 + 10 * M) == 10 * 300  # 22 pilots × 40 a minute would be 880: capped, in turn
    assert set(counts(dbs, T0, T0 + 10 * M)) == {"pilot_a", "pilot_b"} | {f"bulk_{i}" for i in range(1, 21)}


def test_a_running_clock_s_traffic_is_written_ahead_and_a_new_rate_rewrites_what_lies_ahead(
    container: Container, dbs: Databases
) -> None:
    traffic = DemoTraffic(container.target_pool, flag=FLAG, flag_table="public.feature_flags", lead=10 * M)
    traffic(T0)
    assert counts(dbs, T0, T0 + 20 * M) == {"pilot_a": (400, 0), "pilot_b": (400, 0)}  # ten minutes ahead
    traffic.set_error_rate(0.05, "pilot_a", now=T0 + 2 * M)
    traffic(T0 + 2 * M)
    assert counts(dbs, T0, T0 + 2 * M) == {"pilot_a": (80, 0), "pilot_b": (80, 0)}
    assert counts(dbs, T0 + 2 * M, T0 + 12 * M) == {"pilot_a": (400, 20), "pilot_b": (400, 0)}
