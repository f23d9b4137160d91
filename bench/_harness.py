"""Shared set-up for the bench scripts: a throwaway embedded Postgres with the demo app, the real zdm container
behind the real HTTP server, and the Slack Web API emulator. Nothing here is timed."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.acks import freeze_startup_heap  # noqa: E402
from bot.app import build_app  # noqa: E402
from bot.bootstrap import Container, build_container  # noqa: E402
from bot.embedded import EmbeddedPostgres, ensure_database, install_demo_app, start_embedded  # noqa: E402
from bot.executor import TrackingExecutor  # noqa: E402
from bot.local.emulator import SlackEmulator  # noqa: E402
from bot.server import create_server  # noqa: E402
from bot.settings import Settings  # noqa: E402
from commands.config import load_config  # noqa: E402
from commands.ports import Clock  # noqa: E402

SECRET = "bench-secret"
USER = "U0BENCH"
APPROVER = "U0BENCHAPPROVER"
APPROVER2 = "U0BENCHLEAD"


@dataclass
class BenchBot:
    pg: EmbeddedPostgres
    container: Container
    slack: SlackEmulator
    executor: TrackingExecutor
    server: Any
    work: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/slack/events"

    @property
    def target_url(self) -> str:
        return self.pg.url("bench_target")

    @property
    def state_url(self) -> str:
        return self.pg.url("bench_state")

    def close(self) -> None:
        self.server.close()
        self.executor.shutdown(wait=True)
        self.container.close()
        self.slack.stop()
        self.pg.stop()
        shutil.rmtree(self.work, ignore_errors=True)  # the database files (a GB after the backfill bench)


def start_bench_bot(*, extra_toml: str = "", clock: Clock | None = None, http_threads: int = 8) -> BenchBot:
    work = Path(tempfile.mkdtemp(prefix="zdm-bench-"))
    pg = start_embedded(work)
    admin = pg.url("postgres")
    ensure_database(admin, "bench_state")
    ensure_database(admin, "bench_target")
    install_demo_app(pg.url("bench_target"), ROOT / "examples" / "icupa")
    config_path = work / "zdm.toml"
    config_path.write_text(
        f'[roles]\noncall = ["{USER}"]\ndba = ["{USER}"]\nrelease_approvers = ["{USER}", "{APPROVER}", "{APPROVER2}"]\n'
        f'[app]\nroot = "{ROOT / "examples" / "icupa"}"\n'
        f'[rollback]\nsmoke_argv = ["true"]\nlog_path = "{work / "rollback-log.md"}"\n{extra_toml}'
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
    container = build_container(settings, config=load_config(config_path), clock=clock)
    executor = TrackingExecutor()
    server = create_server(
        build_app(container, executor=executor),
        host="127.0.0.1",
        port=0,
        threads=http_threads,
        signing_secret=container.signing_secret,  # as `zdm serve`: signatures checked before Bolt too
        acks=executor.acks,  # … and after-ack work waiting for the acks in flight
    )
    freeze_startup_heap()  # as `zdm serve` before it serves
    threading.Thread(target=server.run, daemon=True).start()
    return BenchBot(pg, container, slack, executor, server, work)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_line(name: str, *, value: float, unit: str, baseline: float | None, target: str) -> str:
    """One `BENCH` line; a figure without a baseline (``None``) prints baseline=0 ratio=0."""
    baseline = baseline or 0.0
    ratio = value / baseline if baseline else 0.0
    return f"BENCH {name} value={value:.3f} unit={unit} baseline={baseline:.3f} ratio={ratio:.2f} target={target}"
