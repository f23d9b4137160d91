"""SIGTERM to `zdm serve` during a backfill: the batches in flight commit with their checkpoints, the process exits
0 within its grace period, and a restart finishes the run with no row missed or done twice."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bot.local.emulator import SlackEmulator
from bot.signing import sign, slash_command_body
from commands.adapters.backfill_pg import PgCheckpoints
from commands.config import RunbookConfig
from tests.bot.test_operations_http import sample
from tests.conftest import ONCALL, SECRET, Databases, write_config
from tests.integration.test_backfill import JOBS, ROWS, items, touched
from tests.integration.test_serve_process import REPO, free_port, serve_env, wait_healthy

GRACE_S = 20
# small batches with a pause between them: the run is still going when the signal arrives
SLOW_JOBS = JOBS.replace("max_batch = 2000", "max_batch = 200\npause_between_ms = 50")
__all__ = ["items"]  # the fixture, shared with test_backfill


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=SLOW_JOBS, roles=f'dba = ["{ONCALL}"]')


def run_status(dbs: Databases, run_id: int) -> tuple[str, object]:
    with dbs.state() as conn:
        row = conn.execute("select status, resumed_at from zdm.backfill_runs where id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row[0]), row[1]


@pytest.mark.usefixtures("items")
def test_sigterm_mid_backfill_keeps_the_checkpoint_and_a_restart_completes_exactly_once(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path
) -> None:
    port = free_port()
    env = serve_env(
        dbs,
        slack,
        tmp_path,
        ZDM_DATA_DIR=str(tmp_path / "data"),
        ZDM_PORT=str(port),
        ZDM_LOG_FORMAT="json",
        ZDM_SHUTDOWN_GRACE_S=str(GRACE_S),
    )
    url = f"http://127.0.0.1:{port}"
    checkpoints = PgCheckpoints(dbs.target_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_healthy(url, proc)
        body = slash_command_body(text="backfill start staging", user_id=ONCALL, response_url=slack.response_url("b"))
        request = sign(SECRET, body)
        ack = httpx.post(url + "/slack/events", content=request.body, headers=request.headers, timeout=10).json()
        started = re.fullmatch(r"Backfill #(\d+) of `items` on `staging` starts now\.", ack["text"])
        assert started, ack
        run_id = int(started[1])
        while proc.poll() is None and checkpoints.progress(run_id).done < 2_000:
            threading.Event().wait(0.02)  # polling the checkpoint table, not waiting for a time to pass
        scraped = httpx.get(url + "/metrics", timeout=10).text
        done = sample(
            scraped, "zdm_backfill_rows_done", run_id=str(run_id), job="items", env="staging", status="running"
        )
        assert done is not None and done >= 2_000

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=GRACE_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    entries = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    messages = [e["message"] for e in entries]
    assert any(m.startswith("shutting down: finishing in-flight work") for m in messages) and messages[-1] == "stopped"

    # the checkpoint is consistent: exactly the rows it counts were done, each once, and the run waits to go on
    progress = checkpoints.progress(run_id)
    checkpoints.close()
    assert 2_000 <= progress.done < ROWS
    assert touched(dbs) == {1: progress.done, 0: ROWS - progress.done}
    assert run_status(dbs, run_id) == ("running", None)

    finish = subprocess.run(
        [sys.executable, "-m", "bot", "backfill-worker", str(run_id)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"backfill #{run_id}: verified" in finish.stdout, finish.stdout + finish.stderr
    assert touched(dbs) == {1: ROWS}  # 0 rows missed, 0 done twice
