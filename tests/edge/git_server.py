"""A real git server on loopback: git's own smart-HTTP backend (``git http-backend``, run as a CGI program) behind a
small threaded WSGI bridge on a free port. Optionally requires a bearer/basic ``Authorization`` header."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.local import STOP_POLL_S


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class GitHttpServer:
    def __init__(self, root: Path, *, authorization: str | None = None) -> None:
        self.root = root
        self.authorization = authorization  # the exact header value required, if any
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, authorization header
        self._server = make_server("127.0.0.1", 0, self._app, server_class=_Threading, handler_class=_Quiet)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name="git-http", daemon=True
        )

    def url(self, repo: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{repo}"

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        auth = environ.get("HTTP_AUTHORIZATION")
        self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), auth))
        if self.authorization is not None and auth != self.authorization:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        for key in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
            if key in environ:
                cgi_env[key] = environ[key]
        argv = [shutil.which("git") or "git", "http-backend"]
        done = subprocess.run(argv, input=body, capture_output=True, env=cgi_env, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        start_response(status, headers)
        return [payload]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as the test's developer; return stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.test",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.test"}  # fmt: skip
    argv = [shutil.which("git") or "git", *args]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()
