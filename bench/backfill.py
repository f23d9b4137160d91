"""bench/backfill.py — zdm's backfill engine against the alternatives, on a 2 M-row table with live writes.

One run on the embedded default, with a writer (a process of its own) doing single-row updates on random rows
throughout, both modes:
- writer_p95_ratio: the writer's p95 during zdm's **default** (throttled) backfill ÷ its p95 with nothing else
  running, sampled 5 s just before and 5 s just after that run, each time on a vacuumed table after a checkpoint
  (so neither the reset's nor the backfill's after-effects count as idle, and load from elsewhere on the machine
  drifting during the run weighs on both sides alike); value = the ratio;
- vs_runbook_500_200: the default mode's rows/s (same run) ÷ the runbook's fixed 500 rows + 200 ms loop (sampled
  for 10 s);
- vs_single_update: zdm's rows/s in `--max-speed` mode ÷ one whole-table UPDATE's rows/s (same table, same writer);
- batch_p99_ms: p99 of how long zdm's batches held their row locks (batch + checkpoint, one transaction), both
  modes; the longest is printed beside it.
Also printed, above the BENCH lines: what a *fixed* pace at 20× the runbook's rate (one worker, its pause set from
the `--max-speed` run's rows/s, no controller) costs the writer's p95 on this machine — where the two backfill
targets meet, or do not.
`python bench/backfill.py [rows]` (default 2 000 000). Prints the four `BENCH …` lines last.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import USER, BenchBot, bench_line, percentile, start_bench_bot

from commands.backfill.engine import BackfillEngine

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
RUNBOOK_SAMPLE_S = 10.0
TARGET_BATCH_MS = 30
JOB = f"""
[backfill.engine]
target_batch_ms = {TARGET_BATCH_MS}
max_batch = 5000
progress_every_s = 5

[backfill.jobs.bench]
table = "public.bench_items"
workers = 2
batch_sql = '''
with batch as (
    select id from public.bench_items where id > %(after)s and id <= %(upto)s order by id limit %(limit)s
), done as (
    update public.bench_items b set v = b.id * 2 from batch where b.id = batch.id returning b.id
)
select count(*), 0, max(id) from done
'''
verify_sql = "select count(*) from public.bench_items where v is null"
"""


def write_traffic(url: str, rows: int, ready: Event, stop: Event, out: Connection) -> None:
    """Live traffic: single-row updates on random rows, each its own transaction; sends the latencies in ms.

    It runs in a process of its own, as the application's requests do: in zdm's process it would also wait for
    the interpreter lock whenever zdm's threads compute, and count that as database latency."""
    rng, latencies = random.Random(3), []
    with psycopg.connect(url, autocommit=True) as conn:
        ready.set()
        while not stop.is_set():
            started = time.perf_counter()
            conn.execute("update public.bench_items set writes = writes + 1 where id = %s", (rng.randint(1, rows),))
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)  # a steady trickle, not a second bulk load
    out.send(latencies)


def with_writer(url: str, work: Callable[[], object]) -> tuple[float, list[float]]:
    spawn = multiprocessing.get_context("spawn")
    ready, stop, (receive, send) = spawn.Event(), spawn.Event(), spawn.Pipe(duplex=False)
    writer = spawn.Process(target=write_traffic, args=(url, ROWS, ready, stop, send), daemon=True)
    writer.start()
    if not ready.wait(60):
        raise RuntimeError("the writer process did not connect within 60 s")
    started = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        latencies: list[float] = receive.recv()
        writer.join()
    return elapsed, latencies


def prepare(bench: BenchBot) -> None:
    with psycopg.connect(bench.target_url, autocommit=True) as conn:
        conn.execute(
            "create table public.bench_items (id bigserial primary key, v bigint, writes integer not null default 0,"
            " payload text not null default repeat('x', 40))"
        )
        conn.execute("insert into public.bench_items (v) select null from generate_series(1, %s)", (ROWS,))
        conn.execute("vacuum analyze public.bench_items")


def reset(bench: BenchBot) -> None:
    with psycopg.connect(bench.target_url, autocommit=True) as conn:
        conn.execute("update public.bench_items set v = null")
        conn.execute("vacuum analyze public.bench_items")


def quiet_idle(bench: BenchBot) -> list[float]:
    """The writer alone for 5 s, on a vacuumed table after a checkpoint (nothing owed from earlier work)."""
    with psycopg.connect(bench.target_url, autocommit=True) as conn:
        conn.execute("vacuum public.bench_items")
        conn.execute("checkpoint")
    return with_writer(bench.target_url, lambda: time.sleep(5))[1]


def run_zdm(
    bench: BenchBot, *, max_speed: bool, pause_ms: int | None = None
) -> tuple[float, list[float], BackfillEngine]:
    """One zdm run over the whole table with the writer running; (seconds, writer latencies, engine). ``pause_ms``:
    one worker at that fixed pause after each batch (``--max-speed`` settings, no controller)."""
    backfills = bench.container.services.backfills
    run = backfills.start(env="staging", job="bench", actor=USER, max_speed=max_speed)
    job, cfg = bench.container.services.config.backfill.jobs["bench"], bench.container.services.config.backfill.engine
    if pause_ms is not None:
        job, cfg = job.model_copy(update={"workers": 1}), cfg.model_copy(update={"pause_between_ms": pause_ms})
    engine = BackfillEngine(
        job=job,
        cfg=cfg,
        checkpoints=backfills._p.checkpoints["staging"],
        runs=backfills._p.runs,
        clock=bench.container.services.clock,
        report=lambda *_: None,
        outage=backfills._p.outage,
    )
    outcome: list[str] = []
    seconds, latencies = with_writer(bench.target_url, lambda: outcome.append(engine.run(run.id).status.value))
    assert outcome == ["verified"], outcome
    return seconds, latencies, engine


def runbook_loop(url: str, stop: threading.Event, counter: list[int]) -> None:
    """The runbook's `run_tenant_backfill(batch_size => 500, sleep_ms => 200)`, one committed chunk at a time."""
    with psycopg.connect(url) as conn:
        last = 0
        while not stop.is_set():
            row = conn.execute(
                "with batch as (select id from public.bench_items where id > %s order by id limit 500)"
                " update public.bench_items b set v = b.id * 2 from batch where b.id = batch.id"
                " returning b.id",
                (last,),
            ).fetchall()
            conn.commit()
            counter[0] += len(row)
            last = max((r[0] for r in row), default=last)
            stop.wait(0.2)


def main() -> None:
    bench = start_bench_bot(extra_toml=JOB)
    try:
        prepare(bench)
        stop, counter = threading.Event(), [0]
        sampler = threading.Timer(RUNBOOK_SAMPLE_S, stop.set)
        sampler.start()
        runbook_s, _ = with_writer(bench.target_url, lambda: runbook_loop(bench.target_url, stop, counter))
        runbook_rate = counter[0] / runbook_s
        reset(bench)

        idle_before = quiet_idle(bench)
        default_s, during, default_engine = run_zdm(bench, max_speed=False)
        idle_after = quiet_idle(bench)
        idle = idle_before + idle_after
        default_rate = ROWS / default_s
        stats = default_engine.stats
        assert stats is not None
        batches, throttle = list(stats.batch_ms), stats.throttle
        moves = Counter(change.split(":", 1)[0] for change in stats.throttle_history)
        reset(bench)

        fast_s, during_fast, fast_engine = run_zdm(bench, max_speed=True)
        fast_rate = ROWS / fast_s
        batches += list(fast_engine.stats.batch_ms) if fast_engine.stats else []
        reset(bench)

        busy = min(1.0, 20 * runbook_rate / (fast_rate / 2))  # one worker's share of the time at 20× the runbook
        pace_ms = round(TARGET_BATCH_MS * (1 - busy) / busy)
        paced_s, during_paced, _ = run_zdm(bench, max_speed=True, pause_ms=pace_ms)
        reset(bench)

        def single_update() -> None:
            with psycopg.connect(bench.target_url, autocommit=True) as conn:
                conn.execute("update public.bench_items set v = id * 2")

        update_s, under_update = with_writer(bench.target_url, single_update)
        update_rate = ROWS / update_s
    finally:
        bench.close()
    idle_p95, during_p95 = percentile(idle, 0.95), percentile(during, 0.95)
    ratio = during_p95 / idle_p95
    print(
        f"{ROWS:,} rows, writer p95 idle {idle_p95:.2f} ms ({len(idle)} writes; before the default run "
        f"{percentile(idle_before, 0.95):.2f} ms, after it {percentile(idle_after, 0.95):.2f} ms).\n"
        f"  zdm default (throttled): {default_s:.1f} s, {default_rate:,.0f} rows/s, writer p95 {during_p95:.2f} ms "
        f"({ratio:.2f}×, {len(during)} writes); throttle at the end: {throttle}\n"
        f"  controller moves: {', '.join(f'{what} {n}' for what, n in moves.most_common(6))}\n"
        f"  zdm --max-speed: {fast_s:.1f} s, {fast_rate:,.0f} rows/s, writer p95 "
        f"{percentile(during_fast, 0.95):.2f} ms\n"
        f"  single UPDATE: {update_s:.1f} s, {update_rate:,.0f} rows/s, writer p95 "
        f"{percentile(under_update, 0.95):.2f} ms, max {max(under_update, default=0):.0f} ms (waits for its locks)\n"
        f"  runbook 500/200: {runbook_rate:,.0f} rows/s (sampled {RUNBOOK_SAMPLE_S:g} s)\n"
        f"  fixed pace, one worker, pause {pace_ms} ms (no controller): {ROWS / paced_s:,.0f} rows/s "
        f"({ROWS / paced_s / runbook_rate:.1f}× the runbook), writer p95 {percentile(during_paced, 0.95):.2f} ms "
        f"({percentile(during_paced, 0.95) / idle_p95:.2f}× idle)\n"
        f"  batches: {len(batches)}, p99 {percentile(batches, 0.99):.1f} ms, longest {max(batches):.1f} ms"
    )
    print(bench_line("writer_p95_ratio", value=ratio, unit="x", baseline=1.0, target="<=1.3"))
    # ratio figures (../shared/BENCHMARKS.md): value is the ratio; the rows/s behind each are printed above
    print(bench_line("vs_runbook_500_200", value=default_rate / runbook_rate, unit="x", baseline=1.0, target=">=20"))
    print(bench_line("vs_single_update", value=fast_rate / update_rate, unit="x", baseline=1.0, target=">=0.8"))
    print(
        bench_line("batch_p99_ms", value=percentile(batches, 0.99), unit="ms", baseline=None, target="<200")
        + f" longest={max(batches):.1f}"
    )


if __name__ == "__main__":
    main()
