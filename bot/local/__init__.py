"""Local stand-ins for the network edges: the Slack emulator (Web API, files) and GitHub / PagerDuty servers,
used by `zdm demo`, local mode and the tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How often a local server's loop looks up to see whether it was asked to stop: ``stop()`` waits up to this long
# (the standard library's half a second, paid by every test that starts one).
STOP_POLL_S = 0.02


class LocalHTTPServer(ThreadingHTTPServer):
    """The standard library's threading HTTP server on loopback, served from a daemon thread of its own
    (``start``/``stop``), with a real service's listen backlog: the default of 5 drops the SYN of a sixth
    simultaneous connection (the kernel logs "possible SYN flooding") and that client only retries a second
    later, which no real Slack or GitHub endpoint does."""

    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
