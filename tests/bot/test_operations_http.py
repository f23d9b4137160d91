"""The operations endpoints through the real HTTP server: /healthz, /readyz, /metrics, and JSON logs whose ref is
the one the person sees."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator

import httpx
import pytest

from bot.app import build_app
from bot.bootstrap import Container
from bot.executor import TrackingExecutor
from bot.health import Readiness
from bot.logs import JsonFormatter
from bot.server import create_server
from tests.conftest import BotServer, Databases, run_until_closed


def get(bot: BotServer, path: str) -> httpx.Response:
    return httpx.get(bot.url + path, timeout=10)


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        sample_name, _, label_text = key.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if sample_name == name and found == wanted:
            return float(value)
    return None


def test_healthz_and_readyz_answer_when_the_state_database_is_current(bot: BotServer) -> None:
    assert get(bot, "/healthz").text == "ok\n"
    ready = get(bot, "/readyz")
    assert (ready.status_code, ready.text) == (200, "ready\n")


def test_readyz_is_503_with_the_reason_while_a_state_migration_is_pending(bot: BotServer, dbs: Databases) -> None:
    with dbs.state() as conn:
        conn.execute("delete from zdm.schema_version where version = 4")
    ready = get(bot, "/readyz")
    assert (ready.status_code, ready.text) == (503, "not ready: state migrations pending: 0004\n")
    assert get(bot, "/healthz").status_code == 200  # the process itself is fine: no restart


def test_readyz_is_503_at_once_when_the_state_database_cannot_be_reached(container: Container) -> None:
    unreachable = Readiness("postgresql://zdm@127.0.0.1:1/zdm_state")  # nothing listens on port 1
    server = create_server(
        build_app(container, executor=TrackingExecutor()),
        host="127.0.0.1",
        port=0,
        threads=2,
        ready=unreachable.reason_not_ready,
    )
    threading.Thread(target=run_until_closed, args=(server,), daemon=True).start()
    try:
        ready = httpx.get(f"http://127.0.0.1:{server.effective_port}/readyz", timeout=10)
    finally:
        server.close()
    assert ready.status_code == 503
    assert ready.text == "not ready: state database unavailable (OperationalError)\n"


def test_readyz_says_shutting_down_once_draining(bot: BotServer, container: Container) -> None:
    assert container.readiness is not None
    container.readiness.draining.set()
    ready = get(bot, "/readyz")
    assert (ready.status_code, ready.text) == (503, "not ready: shutting down\n")


def test_metrics_count_slack_requests_and_acks_and_report_rollouts_by_state(bot: BotServer) -> None:
    before = get(bot, "/metrics")
    assert before.headers["content-type"].startswith("text/plain; version=")
    assert sample(before.text, "zdm_slack_requests_total", kind="slash_command") is None
    assert sample(before.text, "zdm_state_up") == 1.0

    assert bot.command("tenants pilot_*").status_code == 200
    assert bot.command("rollout start").status_code == 200
    bot.settle()
    text = get(bot, "/metrics").text
    assert sample(text, "zdm_slack_requests_total", kind="slash_command") == 2.0
    assert sample(text, "zdm_slack_acks_total", status="200") == 2.0
    assert sample(text, "zdm_slack_ack_seconds_count") == 2.0
    assert sample(text, "zdm_rollouts", state="running") == 1.0
    assert "# TYPE zdm_alert_firing gauge" in text  # one sample per rule once the rules have been evaluated
    assert "# TYPE zdm_scheduler_tick_lag_seconds gauge" in text


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_an_internal_error_is_logged_as_json_with_the_ref_the_person_sees(
    bot: BotServer, dbs: Databases, json_log: io.StringIO
) -> None:
    with dbs.target() as conn:
        conn.execute("alter table public.tenants rename to tenants_gone")  # a real failure, not a fake one
    reply = bot.command("tenants pilot_*").json()["text"]
    match = re.fullmatch(r"zdm hit an internal error \(ref ([0-9a-f]{8})\); nothing was changed\..*", reply)
    assert match, reply
    entries = [json.loads(line) for line in json_log.getvalue().splitlines()]
    errors = [e for e in entries if e["level"] == "ERROR"]
    assert len(errors) == 1
    error = errors[0]
    assert error["ref"] == match[1]
    assert error["logger"] == "bot.listeners.zdm" and error["message"].startswith("internal error in /zdm tenants")
    assert "UndefinedTable" in error["exception"] and set(error) >= {"time", "level", "logger", "message"}
