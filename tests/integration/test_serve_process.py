"""`zdm serve` as a real process: health check, a signed command over HTTP, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from bot.local.emulator import SlackEmulator
from bot.signing import sign, slash_command_body
from commands.config import RunbookConfig
from tests.conftest import ONCALL, SECRET, Databases

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(dbs: Databases, slack: SlackEmulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``zdm serve`` subprocess on the test's databases and Slack emulator (``extra``: more
    ``ZDM_*`` settings, e.g. ``ZDM_PORT``)."""
    return {
        **os.environ,
        "ZDM_SLACK_BOT_TOKEN": slack.token,
        "ZDM_SLACK_SIGNING_SECRET": SECRET,
        "ZDM_SLACK_API_URL": slack.api_url,
        "ZDM_STATE_DATABASE_URL": dbs.state_url,
        "ZDM_TARGET_DATABASE_URL": dbs.target_url,
        "ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml"),
        **extra,
    }


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    with httpx.Client(timeout=1) as client:
        for _ in range(300):  # bounded: start-up is a couple of seconds
            if proc.poll() is not None:
                raise AssertionError(f"zdm serve exited early: {proc.stdout.read() if proc.stdout else ''!r}")
            try:
                if client.get(url + "/healthz").text == "ok\n":
                    return
            except httpx.TransportError:
                pass
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
    raise AssertionError("zdm serve never became healthy")


def test_serve_answers_health_and_commands_and_stops_on_sigterm(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path
) -> None:
    port = free_port()
    env = serve_env(dbs, slack, tmp_path, ZDM_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        body = slash_command_body(text="tenants pilot_*", user_id=ONCALL, response_url=slack.response_url("s"))
        request = sign(SECRET, body)
        reply = httpx.post(url + "/slack/events", content=request.body, headers=request.headers, timeout=10)
        assert reply.json()["text"].startswith("Tenants matching `pilot_*`: `pilot_a`")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert "zdm listening on" in output and "shutting down" in output
    assert "the audit log is not tamper-proof" in output  # one state URL: zdm runs as the audit log's owner


def test_serve_in_socket_mode_still_answers_the_probes_while_slack_refuses_the_connection(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path
) -> None:
    """Socket Mode at the network edge: the Slack stand-in refuses the app token at ``apps.connections.open``
    (what Slack answers a revoked token), so no websocket is opened; the probes must answer regardless."""
    port = free_port()
    api = slack.api_url.rstrip("/")  # also checks that a base URL without the trailing "/" keeps its path
    env = serve_env(
        dbs, slack, tmp_path, ZDM_PORT=str(port), ZDM_SLACK_APP_TOKEN="xapp-1-revoked", ZDM_SLACK_API_URL=api
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        assert httpx.get(url + "/readyz", timeout=5).text == "ready\n"
        assert "zdm_" in httpx.get(url + "/metrics", timeout=5).text
        for _ in range(200):  # bounded: the first connection attempt is made at start-up
            if any(method == "apps.connections.open" for method, _ in slack.calls):
                break
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
        assert any(method == "apps.connections.open" for method, _ in slack.calls)
        assert httpx.get(url + "/healthz", timeout=5).text == "ok\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert "Socket Mode: could not connect to Slack" in output and "invalid_auth" in output
