"""HTTP mode, served by waitress (a production WSGI server, multi-threaded, no development server in the path):

- ``POST /slack/events``  Slack's Events/Interactivity endpoint (the Bolt app)
- ``GET /healthz``        the process is up (liveness)
- ``GET /readyz``         fit for traffic: state database reachable, migrations current, not shutting down
- ``GET /metrics``        Prometheus text format
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.metrics import Metrics

SLACK_PATH = "/slack/events"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ReadyCheck = Callable[[], str | None]  # None = ready, else why not
TEXT = ("Content-Type", "text/plain; charset=utf-8")


def wsgi_app(app: App, *, metrics: Metrics | None = None, ready: ReadyCheck | None = None) -> WsgiApp:
    slack = SlackRequestHandler(app, path=SLACK_PATH)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            start_response("200 OK", [TEXT])
            return [b"ok\n"]
        if path == "/readyz":
            reason = ready() if ready else None
            start_response("503 Service Unavailable" if reason else "200 OK", [TEXT])
            return [f"not ready: {reason}\n".encode() if reason else b"ready\n"]
        if path == "/metrics" and metrics is not None:
            body, content_type = metrics.exposition()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        # each request in a context of its own: the request's log reference (bot.logs) stays with it
        if metrics is None or path != SLACK_PATH:
            answer: Iterable[bytes] = contextvars.copy_context().run(slack, environ, start_response)
            return answer
        return _timed(slack, metrics, environ, start_response)

    return application


def _timed(
    slack: WsgiApp, metrics: Metrics, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    started, status = time.perf_counter(), ["000"]

    def recording(code: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        status[0] = code.split(" ", 1)[0]
        return start_response(code, headers, *rest)

    body = contextvars.copy_context().run(slack, environ, recording)  # Bolt answers with the body complete
    metrics.ack_seconds.observe(time.perf_counter() - started)
    metrics.slack_acks.labels(status=status[0]).inc()
    return body


def create_server(
    app: App,
    *,
    host: str,
    port: int,
    threads: int,
    metrics: Metrics | None = None,
    ready: ReadyCheck | None = None,
) -> Any:
    """A waitress server bound now (``port=0`` picks a free port: see ``.effective_port``); call ``.run()``."""
    from waitress.server import create_server as waitress_server

    return waitress_server(
        wsgi_app(app, metrics=metrics, ready=ready), host=host, port=port, threads=threads, ident="zdm"
    )
