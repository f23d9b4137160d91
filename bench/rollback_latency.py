"""bench/rollback_latency.py — ms from a signed `/zdm rollback tenant` request to the flag-off commit.

Runs on the embedded default (a throwaway pgserver + the demo app), sends ≥ 50 signed slash commands to the real
HTTP server, and reads each rollback's flag-off commit time from its record. Baseline, side by side in the same
run: the plain SQL flag update (one UPDATE + COMMIT on an open connection).
Then the loaded case: the same rollbacks (other tenants) while 20 concurrent `/zdm schema plan`s run, each from
another user (the bench opens `schema plan` to everyone so the per-person bound does not simply refuse them; they
go through the heavy lane like any plan: a few at a time, the rest in line). A new batch of 20 is sent whenever the
previous one has finished, so every loaded rollback overlaps plans. `rollback_p95_loaded` = loaded p95 ÷ idle p95.
Prints `BENCH rollback_p50 …`, `BENCH rollback_p95 …` and `BENCH rollback_p95_loaded …` last.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import SECRET, USER, BenchBot, bench_line, percentile, start_bench_bot

from bot.signing import sign, slash_command_body

RUNS = 60
LOADED_RUNS = 60
CONCURRENT_PLANS = 20
OPEN_PLANS = '[schema]\nbootstrap_seed = true\n[permissions]\n"schema plan" = ["everyone"]\n'


def main() -> None:
    bench = start_bench_bot(extra_toml=OPEN_PLANS)
    slack, executor, url = bench.slack, bench.executor, bench.url

    with psycopg.connect(bench.target_url) as conn:
        found = [r[0] for r in conn.execute("select slug from tenants where tier = 'ga' order by slug limit %s",
                                            (RUNS + LOADED_RUNS,))]  # fmt: skip
    tenants, loaded_tenants = found[:RUNS], found[RUNS:]
    zdm_ms: list[float] = []
    with httpx.Client(timeout=10) as http, psycopg.connect(bench.state_url) as state:
        http.post(url, content="warm-up")  # first connection set-up is not part of a rollback
        for slug in tenants:
            body = slash_command_body(text=f"rollback tenant {slug} bench", user_id=USER,
                                      response_url=slack.response_url("bench"))  # fmt: skip
            request = sign(SECRET, body)
            sent = time.time()
            response = http.post(url, content=request.body, headers=request.headers)
            assert response.status_code == 200 and "Rolling back" in response.text, response.text
            executor.wait_idle(60)
            row = state.execute(
                "select s->>'finished_at' from zdm.rollbacks, jsonb_array_elements(steps) s"
                " where tenant = %s and s->>'step' = 'flag_off'", (slug,)
            ).fetchone()  # fmt: skip
            state.commit()
            assert row and row[0], f"flag_off never finished for {slug}"
            zdm_ms.append((datetime.fromisoformat(row[0]).timestamp() - sent) * 1000)

    loaded_ms, plans_sent = measure_loaded(bench, loaded_tenants)

    base_ms: list[float] = []
    with psycopg.connect(bench.target_url) as conn:
        for slug in tenants:
            started = time.perf_counter()
            conn.execute(
                "update feature_flags set enabled = false, updated_at = now() where tenant_slug = %s and flag = %s",
                (slug, "tenant.enableNewProfile"),
            )
            conn.commit()
            base_ms.append((time.perf_counter() - started) * 1000)

    bench.close()
    print(f"rollbacks measured: {len(zdm_ms)}; zdm mean {statistics.mean(zdm_ms):.1f} ms, "
          f"baseline mean {statistics.mean(base_ms):.2f} ms")  # fmt: skip
    idle_p95, loaded_p95 = percentile(zdm_ms, 0.95), percentile(loaded_ms, 0.95)
    loaded_p50 = percentile(loaded_ms, 0.5)
    print(f"loaded: {len(loaded_ms)} rollbacks while {plans_sent} schema plans were sent, {CONCURRENT_PLANS} at a "
          f"time; loaded p50 {loaded_p50:.1f} ms, p95 {loaded_p95:.1f} ms; idle p95 {idle_p95:.1f} ms")  # fmt: skip
    for name, q, target in (("rollback_p50", 0.5, "<=250"), ("rollback_p95", 0.95, "<=500")):
        value, base = percentile(zdm_ms, q), percentile(base_ms, q)
        print(bench_line(name, value=value, unit="ms", baseline=base, target=target))
    print(bench_line("rollback_p95_loaded", value=loaded_p95 / idle_p95, unit="x", baseline=1.0, target="<=2"))


def measure_loaded(bench: BenchBot, tenants: list[str]) -> tuple[list[float], int]:
    """Flag-off ms of one rollback after another while schema plans keep the bot busy; and how many plans were sent."""
    slack, url = bench.slack, bench.url
    sent_plans = 0

    def plans_done() -> int:
        return sum(1 for m in slack.messages if m.kind == "response" and m.channel == "response:plan")

    def send_plans(batch: int) -> None:
        def one(user: str) -> None:
            body = slash_command_body(text="schema plan preview", user_id=user, response_url=slack.response_url("plan"))
            request = sign(SECRET, body)
            reply = httpx.post(url, content=request.body, headers=request.headers, timeout=30)
            assert "Planning `preview`" in reply.text, reply.text

        threads = [threading.Thread(target=one, args=(f"U0LOAD{batch}X{i}",)) for i in range(CONCURRENT_PLANS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    loaded_ms: list[float] = []
    with httpx.Client(timeout=10) as http, psycopg.connect(bench.state_url, autocommit=True) as state:
        for slug in tenants:
            if plans_done() >= sent_plans:  # the previous batch is over: load the bot again
                send_plans(sent_plans // CONCURRENT_PLANS)
                sent_plans += CONCURRENT_PLANS
            body = slash_command_body(text=f"rollback tenant {slug} loaded", user_id=USER,
                                      response_url=slack.response_url("bench"))  # fmt: skip
            request = sign(SECRET, body)
            sent = time.time()
            response = http.post(url, content=request.body, headers=request.headers)
            assert response.status_code == 200 and "Rolling back" in response.text, response.text
            loaded_ms.append(wait_for_flag_off(state, slug, sent))
    bench.executor.wait_idle(600)
    return loaded_ms, sent_plans


def wait_for_flag_off(state: psycopg.Connection[Any], slug: str, sent: float) -> float:
    """ms from ``sent`` to the rollback's flag-off commit, once the whole rollback has finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = state.execute(
            "select s->>'finished_at', r.finished_at from zdm.rollbacks r, jsonb_array_elements(steps) s"
            " where tenant = %s and s->>'step' = 'flag_off'", (slug,)
        ).fetchone()  # fmt: skip
        if row and row[0] and row[1]:
            return (datetime.fromisoformat(row[0]).timestamp() - sent) * 1000
        time.sleep(0.005)
    raise AssertionError(f"the rollback of {slug} did not finish")


if __name__ == "__main__":
    main()
