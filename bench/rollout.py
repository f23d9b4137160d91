"""bench/rollout.py — the rollout's two hot paths, on the embedded default.

cohort_flip: seconds for zdm to enable one 10 000-tenant cohort — the real Approve path (lock, gate re-check,
claim, one-transaction flag upsert, one audit row per toggle, rollback-log entry, cards updated). Baseline, side by
side: one bare UPDATE of the same 10 000 flag rows. Median of 3 rounds each.

advance_due: ms for one ``advance_due(now)`` with 100 active rollouts, each with tenants enabled and a prompt
waiting, while the clock moves 30 s per tick for 20 minutes (so KPI watching, every 5 minutes, falls due on some
ticks); the figure is the mean tick. Baseline: an empty tick (no active rollouts).
cohort_flip_100k and advance_due_1000: the same with one 100 000-tenant cohort and 1 000 active rollouts (the
max tick printed beside the mean). `python bench/rollout.py [scale]` divides the big sizes by ``scale`` while
iterating. Prints the four `BENCH …` lines last.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import APPROVER, USER, BenchBot, bench_line, start_bench_bot

from bot.demo import DemoTraffic
from commands.adapters.clock import DemoClock
from commands.rollout.views import token

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1
COHORT = 10_000
BIG_COHORT = 100_000 // SCALE
ROLLOUTS = 100
MANY_ROLLOUTS = 1_000 // SCALE
ROUNDS = 3
FLAG = "tenant.enableNewProfile"
PLANS = """
[rollout]
default_plan = "bench"

[[rollout.plans.bench]]
name = "big cohort"
at = "0h"
glob = "bench_0*"

[[rollout.plans.huge]]
name = "huge cohort"
at = "0h"
glob = "bench_*"

[[rollout.plans.one]]
name = "one tenant"
at = "0h"
slugs = ["demo_icupa"]

[[rollout.plans.one]]
name = "everyone"
at = "72h"
all = true
"""


def add_tenants(bench: BenchBot) -> tuple[list[str], list[str]]:
    """``bench_0…`` (10 000 of them) and ``bench_1…`` (the rest of the 100 000): the small cohort, and all."""
    with psycopg.connect(bench.target_url) as conn:
        conn.execute(
            "insert into public.tenants (slug, name, tier, display_name)"
            " select 'bench_' || case when i <= %s then '0' else '1' end || lpad(i::text, 6, '0'), 'Bench', 'ga',"
            " 'Bench' from generate_series(1, %s) as i",
            (COHORT, BIG_COHORT),
        )
        slugs = [r[0] for r in conn.execute("select slug from public.tenants where slug like 'bench%%' order by 1")]
    return [s for s in slugs if s.startswith("bench_0")], slugs


def reset_flags(bench: BenchBot, tenants: list[str]) -> None:
    with psycopg.connect(bench.target_url) as conn:
        conn.execute(
            "insert into public.feature_flags (tenant_slug, flag, enabled) select unnest(%s::text[]), %s, false"
            " on conflict (tenant_slug, flag) do update set enabled = false",
            (tenants, FLAG),
        )


def flip_round(bench: BenchBot, tenants: list[str], *, plan: str = "bench") -> float:
    rollouts = bench.container.services.rollouts
    reset_flags(bench, tenants)
    rollout = rollouts.start(flag=None, plan=plan, actor=USER, correlation_id=None)
    rollouts.after_start(rollout.id)
    current = bench.container.services.rollouts._repo.get(rollout.id)
    assert current is not None and len(current.steps[0].cohort) == len(tenants), "the cohort was not resolved"
    started = time.perf_counter()
    said = rollouts.approve(value=token(current, 0), actor=APPROVER)
    elapsed = time.perf_counter() - started
    assert f"for {len(tenants)} tenants" in said, said
    return elapsed


def card_sizes(bench: BenchBot) -> int:
    """The longest message text or block the Slack emulator received (Slack: 3 000 characters a section)."""
    longest = 0
    for message in list(bench.slack.messages):
        for block in message.blocks:
            longest = max(longest, len(str(block.get("text", {}).get("text", ""))))
    return longest


def bare_update(bench: BenchBot, tenants: list[str]) -> float:
    reset_flags(bench, tenants)
    with psycopg.connect(bench.target_url) as conn:
        started = time.perf_counter()
        conn.execute(
            "update public.feature_flags set enabled = true, updated_at = now(), updated_by = 'bench'"
            " where flag = %s and tenant_slug = any(%s)",
            (FLAG, tenants),
        )
        conn.commit()
        return time.perf_counter() - started


def advance_ticks(bench: BenchBot, clock: DemoClock, *, active: int, first: int = 0) -> list[float]:
    """Adds rollouts ``first``…``active - 1`` (each with its first tenant on), then times 40 ticks of 30 s."""
    rollouts = bench.container.services.rollouts
    for n in range(first, active):
        rollout = rollouts.start(flag=f"bench.flag{n}", plan="one", actor=USER, correlation_id=None)
        rollouts.after_start(rollout.id)
        fresh = rollouts._repo.get(rollout.id)
        assert fresh is not None
        rollouts.approve(value=token(fresh, 0), actor=APPROVER)
    traffic = DemoTraffic(bench.container.target_pool, flag=FLAG, flag_table="public.feature_flags", error_rate=0)
    with psycopg.connect(bench.target_url, autocommit=True) as conn:
        conn.execute("update public.feature_flags set enabled = true where tenant_slug = 'demo_icupa'")
    samples = []
    for _ in range(40):
        now = clock.advance(timedelta(seconds=30))
        traffic(now)
        started = time.perf_counter()
        rollouts.advance_due(now)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    clock = DemoClock(scale=0, start=datetime.now(UTC))
    # rollouts flip only known flags: each bench flag is named by a release
    releases = "".join(
        f'[releases.bench{n}]\nmigrations = ["20250301000000_*"]\nflag = "bench.flag{n}"\n'
        for n in range(max(ROLLOUTS, MANY_ROLLOUTS))
    )
    bench = start_bench_bot(extra_toml=PLANS + releases, clock=clock)
    try:
        small, everyone = add_tenants(bench)
        zdm_s, base_s = [], []
        for _ in range(ROUNDS):
            zdm_s.append(flip_round(bench, small))
            base_s.append(bare_update(bench, small))
            clock.advance(timedelta(hours=1))
        big_s = flip_round(bench, everyone, plan="huge")
        big_base_s = bare_update(bench, everyone)
        clock.advance(timedelta(hours=1))
        with psycopg.connect(bench.state_url) as conn:
            toggles = conn.execute("select count(*) from zdm.audit_log where action = 'rollout.flag_on'").fetchone()
        logged = toggles[0] if toggles else 0
        print(f"cohort flips: zdm {[f'{s:.3f}' for s in zdm_s]} s, bare UPDATE {[f'{s:.3f}' for s in base_s]} s; "
              f"{len(everyone):,} tenants: zdm {big_s:.3f} s, bare UPDATE {big_base_s:.3f} s; "
              f"toggles logged: {logged}; longest card text: {card_sizes(bench)} chars")  # fmt: skip

        empty = []
        for _ in range(40):
            started = time.perf_counter()
            bench.container.services.rollouts.advance_due(clock.advance(timedelta(seconds=30)))
            empty.append((time.perf_counter() - started) * 1000)
        ticks = advance_ticks(bench, clock, active=ROLLOUTS)
        many = advance_ticks(bench, clock, active=MANY_ROLLOUTS, first=ROLLOUTS)
        print(f"advance_due over 40 ticks: {ROLLOUTS} active rollouts mean {statistics.mean(ticks):.1f} ms, "
              f"max {max(ticks):.1f} ms; {MANY_ROLLOUTS} mean {statistics.mean(many):.1f} ms, max {max(many):.1f} ms;"
              f" empty tick mean {statistics.mean(empty):.2f} ms")  # fmt: skip
    finally:
        bench.close()
    print(bench_line("cohort_flip", value=statistics.median(zdm_s), unit="s", baseline=statistics.median(base_s),
                     target="<=0.5"))  # fmt: skip
    print(bench_line("advance_due", value=statistics.mean(ticks), unit="ms", baseline=statistics.mean(empty),
                     target="<=50"))  # fmt: skip
    print(bench_line("cohort_flip_100k", value=big_s, unit="s", baseline=big_base_s, target="<=1.5"))
    print(
        bench_line("advance_due_1000", value=statistics.mean(many), unit="ms", baseline=statistics.mean(empty),
                   target="<=50") + f" max={max(many):.1f}"
    )  # fmt: skip


if __name__ == "__main__":
    main()
