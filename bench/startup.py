"""bench/startup.py — how fast `zdm serve` comes up, and how much memory it holds idle, on the embedded default.

cold_start_s: seconds from starting the `zdm serve` process (`python -m bot serve`) to `/healthz` answering, with
the embedded database already initialised (a first, untimed start creates it and installs the demo app). Each
timed start still starts the embedded Postgres server (pgserver stops it when zdm exits), runs the state migrations
check, opens the pools and the local Slack emulator. Median of 3 starts. Baseline, side by side: the wall time of
`python -c pass` (median of 5).

idle_rss_mb: VmRSS (/proc/<pid>/status) of the zdm process, 3 s after `/healthz` first answered, median over the
same starts. The bot process only: the embedded Postgres runs as separate processes and is not counted (with real
database URLs there is no embedded Postgres at all).
Prints `BENCH cold_start_s …` and `BENCH idle_rss_mb …` last.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, bench_line

STARTS = 3
IDLE_S = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDM_")}
    env |= {"ZDM_DATA_DIR": str(work / "data"), "ZDM_PORT": str(port), "ZDM_CONFIG_PATH": str(ROOT / "zdm.toml")}
    argv = [sys.executable, "-m", "bot", "serve"]
    proc = subprocess.Popen(argv, cwd=work, env=env | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, f"http://127.0.0.1:{port}/healthz"


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"zdm serve exited with {proc.returncode} before it was healthy")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise SystemExit("zdm serve did not become healthy in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc status")


def python_pass_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="zdm-bench-startup-"))
    starts: list[float] = []
    rss: list[float] = []
    try:
        proc, url = serve(work)  # first start: initialises the embedded database and installs the demo app
        wait_healthy(proc, url, timeout_s=300)
        stop(proc)
        for _ in range(STARTS):
            started = time.perf_counter()
            proc, url = serve(work)
            try:
                wait_healthy(proc, url, timeout_s=120)
                starts.append(time.perf_counter() - started)
                time.sleep(IDLE_S)  # idle: the scheduler's first tick and the start-up resume have run
                rss.append(rss_mb(proc.pid))
            finally:
                stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline = [python_pass_s() for _ in range(5)]
    print(f"zdm serve to /healthz: {[f'{s:.2f}' for s in starts]} s; python -c pass: "
          f"{[f'{s:.3f}' for s in baseline]} s; idle RSS of the zdm process: {[f'{m:.0f}' for m in rss]} MB "
          "(embedded Postgres processes not counted)")  # fmt: skip
    print(bench_line("cold_start_s", value=statistics.median(starts), unit="s", baseline=statistics.median(baseline),
                     target="<=2"))  # fmt: skip
    print(bench_line("idle_rss_mb", value=statistics.median(rss), unit="MB", baseline=None, target="<=120"))


if __name__ == "__main__":
    main()
