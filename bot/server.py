"""HTTP mode: Slack's Events/Interactivity endpoint and a health check, served by waitress (a production WSGI
server, multi-threaded, no development server in the path)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

SLACK_PATH = "/slack/events"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(app: App) -> WsgiApp:
    slack = SlackRequestHandler(app, path=SLACK_PATH)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return slack(environ, start_response)

    return application


def create_server(app: App, *, host: str, port: int, threads: int) -> Any:
    """A waitress server bound now (``port=0`` picks a free port: see ``.effective_port``); call ``.run()``."""
    from waitress.server import create_server as waitress_server

    return waitress_server(wsgi_app(app), host=host, port=port, threads=threads, ident="zdm")
