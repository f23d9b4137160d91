"""The local web page of ``zdm demo --web`` (stdlib ``http.server``, bound to 127.0.0.1).

``GET /`` is one static page (HTML + JS, no build step); it long-polls ``GET /api/state?after=<version>`` and
posts what the person does to ``/api/command``, ``/api/press``, ``/api/tick``, ``/api/submit``, ``/api/close``
and ``/api/as``. Uploaded chart images are served from the Slack emulator's files at ``/files/<id>``.
"""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.local import LocalHTTPServer
from bot.web.workspace import Workspace

LONG_POLL_S = 20.0
MAX_BODY = 64 * 1024


class WebServer:
    def __init__(self, workspace: Workspace, *, port: int = 0) -> None:
        self.workspace = workspace
        try:
            self._server = LocalHTTPServer(_handler(workspace), name="zdm-web", port=port)
        except OSError:  # the preferred port is taken: any free one
            self._server = LocalHTTPServer(_handler(workspace), name="zdm-web")

    @property
    def url(self) -> str:
        return self._server.url + "/"

    def start(self) -> WebServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


def page_html() -> str:
    return resources.files("bot.web").joinpath("page.html").read_text(encoding="utf-8")


def _handler(workspace: Workspace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/":
                self._send(200, page_html().encode("utf-8"), "text/html; charset=utf-8")
            elif url.path == "/api/state":
                after = parse_qs(url.query).get("after", [""])[0]
                if after.lstrip("-").isdigit():
                    workspace.wait_change(int(after), LONG_POLL_S)
                self._json(200, workspace.state())
            elif url.path.startswith("/files/"):
                data = workspace.shell.emulator.file_bytes(url.path[len("/files/") :])
                if data is None:
                    self._send(404, b"no such file", "text/plain")
                else:
                    self._send(200, data, "image/png")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            if self.headers.get("X-ZDM-Web") != "1":  # a custom header: other web pages' forms cannot send it
                self._json(403, {"error": "Requests come from the zdm page only."})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._json(413, {"error": "That request is too large."})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                answer = self._act(urlsplit(self.path).path, body)
            except (ValueError, KeyError, TypeError) as exc:
                self._json(400, {"error": f"The page sent a request zdm cannot read ({exc})."})
                return
            if answer is None:
                self._send(404, b"not found", "text/plain")
            else:
                self._json(200, answer)

        def _act(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
            if path == "/api/command":
                workspace.command(str(body["text"]), channel=str(body["channel"]))
            elif path == "/api/press":
                workspace.press(
                    channel=str(body["channel"]),
                    ts=str(body["ts"]),
                    action_id=str(body["action_id"]),
                    value=str(body.get("value", "")),
                    block_id=str(body.get("block_id") or "actions"),
                )
            elif path == "/api/tick":
                workspace.tick(
                    channel=str(body["channel"]),
                    ts=str(body["ts"]),
                    action_id=str(body["action_id"]),
                    block_id=str(body["block_id"]),
                    selected=[dict(o) for o in body["selected"]],
                )
            elif path == "/api/submit":
                values = {str(b): {str(a): str(t) for a, t in v.items()} for b, v in body["values"].items()}
                return {"errors": workspace.submit(view_id=str(body["view_id"]), values=values)}
            elif path == "/api/close":
                workspace.close(str(body["view_id"]))
            elif path == "/api/as":
                workspace.act_as(str(body["user"]))
            else:
                return None
            return {"ok": True}

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

        def _send(self, status: int, data: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the tab was closed during a long poll
                return

    return Handler


def serve_web(workspace: Workspace, *, port: int, stop: threading.Event | None = None) -> int:
    """Serve the page until Ctrl-C, SIGTERM (or ``stop``); prints its URL."""
    server = WebServer(workspace, port=port).start()
    print(f"zdm demo is open at {server.url} (Ctrl-C stops it)", flush=True)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping…", flush=True)
    finally:
        server.stop()
    return 0
