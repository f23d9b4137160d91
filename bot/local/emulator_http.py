"""The Slack emulator's HTTP side: Web API calls (``/api/<method>``, form or JSON), ``response_url`` posts
(``/response/<id>``), file uploads (``/upload/v1/<id>``) and uploaded files (``/files/<id>``), handed to the
``SlackEmulator`` that keeps the state."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from bot.local.emulator import SlackEmulator


def http_handler(emulator: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            data = emulator.file_bytes(self.path[len("/files/") :]) if self.path.startswith("/files/") else None
            if data is None:
                self._reply(404, "not found", ctype="text/plain")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if self.path.startswith("/upload/v1/"):
                status, answer = emulator.receive_upload(self.path[len("/upload/v1/") :], data)
                self._reply(status, answer, ctype="text/plain")
                return
            raw = data.decode("utf-8")
            ctype = self.headers.get("Content-Type", "")
            body: dict[str, Any] = json.loads(raw or "{}") if "json" in ctype else dict(parse_qsl(raw))
            if self.path.startswith("/api/") and emulator.take_rate_limit():
                self._reply(429, json.dumps({"ok": False, "error": "ratelimited"}), headers={"Retry-After": "1"})
            elif self.path.startswith("/api/"):
                result = emulator.handle_api(self.path[5:].split("?")[0], body, self.headers.get("Authorization"))
                self._reply(200, json.dumps(result))
            elif self.path.startswith("/response/"):
                emulator.handle_response_url(self.path.split("/", 2)[2], body)
                self._reply(200, "ok", ctype="text/plain")
            else:
                self._reply(404, "not found", ctype="text/plain")

        def _reply(
            self,
            status: int,
            text: str,
            *,
            ctype: str = "application/json; charset=utf-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
