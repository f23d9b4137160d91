"""bench/rollback_latency.py — ms from a signed `/zdm rollback tenant` request to the flag-off commit.

Runs on the embedded default (a throwaway pgserver + the demo app), sends ≥ 50 signed slash commands to the real
HTTP server, and reads each rollback's flag-off commit time from its record. Baseline, side by side in the same
run: the plain SQL flag update (one UPDATE + COMMIT on an open connection).
Prints `BENCH rollback_p50 …` and `BENCH rollback_p95 …` last.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import SECRET, USER, bench_line, percentile, start_bench_bot

from bot.signing import sign, slash_command_body

RUNS = 60


def main() -> None:
    bench = start_bench_bot()
    slack, executor, url = bench.slack, bench.executor, bench.url

    with psycopg.connect(bench.target_url) as conn:
        tenants = [r[0] for r in conn.execute("select slug from tenants where tier = 'ga' order by slug limit %s",
                                              (RUNS,))]  # fmt: skip
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
    for name, q, target in (("rollback_p50", 0.5, "<=250"), ("rollback_p95", 0.95, "<=500")):
        value, base = percentile(zdm_ms, q), percentile(base_ms, q)
        print(bench_line(name, value=value, unit="ms", baseline=base, target=target))


if __name__ == "__main__":
    main()
