"""bench/rollback_latency.py — ms from a signed `/zdm rollback tenant` request to the flag-off commit.

Runs on the embedded default (a throwaway pgserver + the demo app), sends ≥ 50 signed slash commands to the real
HTTP server, and reads each rollback's flag-off commit time from its record. Baseline, side by side in the same
run: the plain SQL flag update (one UPDATE + COMMIT on an open connection).
Prints `BENCH rollback_p50 …` and `BENCH rollback_p95 …` last.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_app  # noqa: E402
from bot.bootstrap import build_container  # noqa: E402
from bot.embedded import ensure_database, install_demo_app, start_embedded  # noqa: E402
from bot.emulator import SlackEmulator  # noqa: E402
from bot.executor import TrackingExecutor  # noqa: E402
from bot.server import create_server  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.signing import sign, slash_command_body  # noqa: E402
from commands.config import load_config  # noqa: E402

RUNS = 60
SECRET = "bench-secret"
USER = "U0BENCH"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="zdm-bench-"))
    pg = start_embedded(work)
    admin = pg.url("postgres")
    ensure_database(admin, "bench_state")
    ensure_database(admin, "bench_target")
    install_demo_app(pg.url("bench_target"), ROOT / "examples" / "icupa")
    config_path = work / "zdm.toml"
    config_path.write_text(
        f'[roles]\noncall = ["{USER}"]\n[app]\nroot = "{ROOT / "examples" / "icupa"}"\n'
        f'[rollback]\nsmoke_argv = ["true"]\nlog_path = "{work / "rollback-log.md"}"\n'
    )
    slack = SlackEmulator().start()
    settings = Settings(
        slack_bot_token=slack.token,  # type: ignore[arg-type]
        slack_signing_secret=SECRET,  # type: ignore[arg-type]
        slack_api_url=slack.api_url,
        state_database_url=pg.url("bench_state"),
        target_database_url=pg.url("bench_target"),
        config_path=config_path,
    )
    container = build_container(settings, config=load_config(config_path))
    executor = TrackingExecutor()
    server = create_server(build_app(container, executor=executor), host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/slack/events"

    with psycopg.connect(pg.url("bench_target")) as conn:
        tenants = [r[0] for r in conn.execute("select slug from tenants where tier = 'ga' order by slug limit %s",
                                              (RUNS,))]  # fmt: skip
    zdm_ms: list[float] = []
    with httpx.Client(timeout=10) as http, psycopg.connect(pg.url("bench_state")) as state:
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
    with psycopg.connect(pg.url("bench_target")) as conn:
        for slug in tenants:
            started = time.perf_counter()
            conn.execute(
                "update feature_flags set enabled = false, updated_at = now() where tenant_slug = %s and flag = %s",
                (slug, "tenant.enableNewProfile"),
            )
            conn.commit()
            base_ms.append((time.perf_counter() - started) * 1000)

    server.close()
    executor.shutdown(wait=True)
    container.close()
    slack.stop()
    pg.stop()
    print(f"rollbacks measured: {len(zdm_ms)}; zdm mean {statistics.mean(zdm_ms):.1f} ms, "
          f"baseline mean {statistics.mean(base_ms):.2f} ms")  # fmt: skip
    for name, q, target in (("rollback_p50", 0.5, "<=250"), ("rollback_p95", 0.95, "<=500")):
        value, base = percentile(zdm_ms, q), percentile(base_ms, q)
        print(f"BENCH {name} value={value:.2f} unit=ms baseline={base:.3f} ratio={value / base:.1f} target={target}")


if __name__ == "__main__":
    main()
