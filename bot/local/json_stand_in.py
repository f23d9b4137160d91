"""The shared base of the local stand-ins for outside HTTP APIs: a threaded HTTP server on loopback that
answers JSON, records every request it received, and can be told to fail (a queued reply, an outage)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.local import LocalHTTPServer


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class JsonStandIn:
    """A threaded local HTTP server answering JSON; subclasses implement ``answer``."""

    name = "stand-in"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._queued: list[Reply] = []  # forced replies (e.g. a 429) served before normal handling
        self.unavailable: int | None = None  # an outage: every request answers this status until reset to None
        self.before_reply: Callable[[Received], None] | None = None  # tests: hold a request at the edge
        self._lock = threading.Lock()
        self._server = LocalHTTPServer(_handler(self), name=self.name)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> JsonStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._queued.append(Reply(status, body, headers or {}))

    def requests(self, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if method is None or r.method == method]

    def handle(self, request: Received) -> Reply:
        if self.before_reply is not None:
            self.before_reply(request)
        with self._lock:
            self.received.append(request)
            if self.unavailable is not None:
                return Reply(self.unavailable, {"message": "Service Unavailable"})
            if self._queued:
                return self._queued.pop(0)
            return self.answer(request)

    def answer(self, request: Received) -> Reply:
        raise NotImplementedError


def _handler(stand_in: JsonStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            try:
                form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                body = parse_qs(raw) if form else json.loads(raw) if raw else None
            except json.JSONDecodeError:
                self._send(Reply(400, {"message": "Problems parsing JSON"}))
                return
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(stand_in.handle(Received(self.command, split.path, parse_qs(split.query), headers, body)))

        do_GET = do_POST = do_PATCH = do_PUT = _serve

        def _send(self, reply: Reply) -> None:
            data = json.dumps(reply.body).encode("utf-8")
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
