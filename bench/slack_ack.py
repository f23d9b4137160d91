"""bench/slack_ack.py — ms to acknowledge signed slash commands, 20 at a time.

zdm: the real app behind the real HTTP server on the embedded default, with one rollout running, receiving rounds
of 20 concurrent signed `/zdm …` commands (a mix of `rollout status`, `rollout list`, `tenants pilot_*` and
`help`). Baseline, side by side in the same run: a Bolt app whose only listener acks, behind the same server with
the same load. Prints `BENCH ack_p99 …` (reported) and `BENCH ack_p99_vs_bolt …` (zdm ÷ Bolt, target ≤ 1.5) last.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from slack_bolt import Ack, App
from slack_sdk import WebClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import SECRET, USER, bench_line, percentile, start_bench_bot

from bot.local.emulator import BOT_TOKEN
from bot.server import create_server
from bot.signing import sign, slash_command_body

CONCURRENCY = 20
ROUNDS = 5  # per load process; ALTERNATIONS × ROUNDS × CONCURRENCY acks for each app (1 200)
ALTERNATIONS = 12
THREADS = 16  # the default of ZDM_HTTP_THREADS, for both servers
TEXTS = ("rollout status", "rollout list", "tenants pilot_*", "help")


def load(url: str, response_url: str) -> list[float]:
    """ROUNDS rounds of CONCURRENCY simultaneous signed commands; ms from send to the ack's last byte."""
    latencies: list[float] = []
    lock = threading.Lock()
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
        warm_up = sign(SECRET, slash_command_body(text="help", user_id=USER, response_url=response_url))
        http.post(url, content=warm_up.body, headers=warm_up.headers)  # untimed: an app's first request pays for
        # Bolt's one `auth.test`
        for round_no in range(ROUNDS):
            gate = threading.Barrier(CONCURRENCY)

            def one(n: int, round_no: int = round_no, gate: threading.Barrier = gate) -> None:
                text = TEXTS[(n + round_no) % len(TEXTS)]
                request = sign(SECRET, slash_command_body(text=text, user_id=USER, response_url=response_url))
                gate.wait()
                started = time.perf_counter()
                response = http.post(url, content=request.body, headers=request.headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text
                with lock:
                    latencies.append(elapsed)

            threads = [threading.Thread(target=one, args=(n,)) for n in range(CONCURRENCY)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    return latencies


def empty_bolt_app(api_url: str) -> App:
    client = WebClient(token=BOT_TOKEN, base_url=api_url)
    app = App(client=client, signing_secret=SECRET, token_verification_enabled=False)

    @app.command("/zdm")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def load_in_child(url: str, response_url: str) -> list[float]:
    """The load generator runs in its own process, so its threads do not compete with the server for the GIL."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", url, response_url], capture_output=True, text=True, check=True
    ).stdout
    return [float(v) for v in json.loads(out.strip().splitlines()[-1])]


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--load":
        print(json.dumps(load(sys.argv[2], sys.argv[3])))
        return
    bench = start_bench_bot(http_threads=THREADS)
    rollouts = bench.container.services.rollouts
    started = rollouts.start(flag=None, plan=None, actor=USER, correlation_id=None)
    rollouts.after_start(started.id)
    baseline_server = create_server(empty_bolt_app(bench.slack.api_url), host="127.0.0.1", port=0, threads=THREADS)
    threading.Thread(target=baseline_server.run, daemon=True).start()
    baseline_url = f"http://127.0.0.1:{baseline_server.effective_port}/slack/events"
    try:
        zdm_ms, base_ms = [], []
        for _ in range(ALTERNATIONS):  # finely interleaved, so both see the same (shared, noisy) machine
            zdm_ms += load_in_child(bench.url, bench.slack.response_url("bench"))
            base_ms += load_in_child(baseline_url, bench.slack.response_url("bench"))
        bench.executor.wait_idle(60)
    finally:
        baseline_server.close()
        bench.close()
    print(f"acks: zdm {len(zdm_ms)} (p50 {percentile(zdm_ms, 0.5):.1f} ms, mean {statistics.mean(zdm_ms):.1f} ms), "
          f"empty Bolt app {len(base_ms)} (p50 {percentile(base_ms, 0.5):.1f} ms)")  # fmt: skip
    zdm_p99, bolt_p99 = percentile(zdm_ms, 0.99), percentile(base_ms, 0.99)
    print(bench_line("ack_p99", value=zdm_p99, unit="ms", baseline=bolt_p99, target="—"))
    print(bench_line("ack_p99_vs_bolt", value=zdm_p99 / bolt_p99, unit="x", baseline=1.0, target="<=1.5"))


if __name__ == "__main__":
    main()
