"""HTTP mode, served by waitress (a production WSGI server, multi-threaded, no development server in the path):

- ``POST /slack/events``  Slack's Events/Interactivity endpoint (the Bolt app)
- ``GET /healthz``        the process is up (liveness)
- ``GET /readyz``         fit for traffic: state database reachable, migrations current, not shutting down
- ``GET /metrics``        Prometheus text format
- ``POST /lighthouse``    a Lighthouse JSON report from CI (``Authorization: Bearer $ZDM_LIGHTHOUSE_TOKEN``; only
                          when that setting is set), so CI needs no folder shared with the pods

Before Bolt sees a request to ``/slack/events``: a body over ``MAX_BODY_BYTES`` is refused (413), and a body whose
signature does not verify is refused (401) and logged by its size and sha256 only, never verbatim (Bolt would log
it whole: a newline in it forges a log line, a 5 MB body becomes a 5 MB line).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.acks import AcksInFlight
from bot.metrics import Metrics
from commands.errors import UserError

SLACK_PATH = "/slack/events"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ReadyCheck = Callable[[], str | None]  # None = ready, else why not
IngestReport = Callable[[bytes], str]  # a report's bytes -> one line saying what happened; UserError if refused
TEXT = ("Content-Type", "text/plain; charset=utf-8")
MAX_REPORT_BYTES = 32 * 1024 * 1024
MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few kB; a slash command's text is at most 4,000 characters
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LighthouseInbox:
    token: str
    ingest: IngestReport


def wsgi_app(
    app: App,
    *,
    metrics: Metrics | None = None,
    ready: ReadyCheck | None = None,
    inbox: LighthouseInbox | None = None,
    signing_secret: str | None = None,
    acks: AcksInFlight | None = None,
) -> WsgiApp:
    bolt = SlackRequestHandler(app, path=SLACK_PATH)
    slack = _checked(bolt, SignatureVerifier(signing_secret) if signing_secret else None)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/lighthouse" and inbox is not None:
            status, text = _lighthouse(inbox, environ)
            start_response(status, [TEXT])
            return [text.encode() + b"\n"]
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
        if path != SLACK_PATH:
            return _answer(slack, None, environ, start_response)  # Bolt answers 404
        if acks is None:
            return _answer(slack, metrics, environ, start_response)
        return acks.answer(lambda: _answer(slack, metrics, environ, start_response))

    return application


def _answer(
    slack: WsgiApp, metrics: Metrics | None, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    # each request in a context of its own: the request's log reference (bot.logs) stays with it
    if metrics is None:
        answer: Iterable[bytes] = contextvars.copy_context().run(slack, environ, start_response)
        return answer
    return _timed(slack, metrics, environ, start_response)


def _lighthouse(inbox: LighthouseInbox, environ: dict[str, Any]) -> tuple[str, str]:
    if environ.get("REQUEST_METHOD") != "POST":
        return "405 Method Not Allowed", "POST a Lighthouse JSON report here."
    given = str(environ.get("HTTP_AUTHORIZATION", ""))
    if not hmac.compare_digest(given.encode(), f"Bearer {inbox.token}".encode()):
        return "401 Unauthorized", "Send the token of ZDM_LIGHTHOUSE_TOKEN as `Authorization: Bearer <token>`."
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length <= 0 or length > MAX_REPORT_BYTES:
        return "413 Content Too Large", f"The report must be between 1 byte and {MAX_REPORT_BYTES} bytes."
    data = environ["wsgi.input"].read(length)
    try:
        return "200 OK", inbox.ingest(data)
    except UserError as exc:
        return "422 Unprocessable Content", str(exc)


def _checked(bolt: WsgiApp, verifier: SignatureVerifier | None) -> WsgiApp:
    """Bolt behind a size limit and, given the signing secret, a signature check that logs no body."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return bolt(environ, start_response)
        declared = str(environ.get("CONTENT_LENGTH") or "0")
        size = int(declared) if declared.isascii() and declared.isdigit() and len(declared) < 12 else MAX_BODY_BYTES + 1
        body = environ["wsgi.input"].read(min(size, MAX_BODY_BYTES + 1)) if size <= MAX_BODY_BYTES else b""
        if size > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
            log.warning("refused a request body of %s bytes (at most %d)", declared[:12], MAX_BODY_BYTES)
            start_response("413 Payload Too Large", [TEXT])
            return [b"request body too large\n"]
        if verifier is not None and not _signed(verifier, environ, body):
            log.info("refused an unsigned request: %d bytes, sha256 %s", len(body), hashlib.sha256(body).hexdigest())
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": "invalid request"}']
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return bolt(environ, start_response)

    return application


def _signed(verifier: SignatureVerifier, environ: dict[str, Any], body: bytes) -> bool:
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
    try:
        return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))
    except (ValueError, TypeError, UnicodeError):
        return False


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
    inbox: LighthouseInbox | None = None,
    signing_secret: str | None = None,
    acks: AcksInFlight | None = None,
) -> Any:
    """A waitress server bound now (``port=0`` picks a free port: see ``.effective_port``); call ``.run()``.
    Given the signing secret, unsigned requests are refused before Bolt (see the module's docstring); given
    ``acks`` (the executor's), the Slack requests being answered are counted there (see ``bot.acks``)."""
    from waitress.server import create_server as waitress_server

    return waitress_server(
        wsgi_app(app, metrics=metrics, ready=ready, inbox=inbox, signing_secret=signing_secret, acks=acks),
        host=host,
        port=port,
        threads=threads,
        ident="zdm",
        # Slack requests are held to MAX_BODY_BYTES before Bolt; a posted Lighthouse report may be larger
        max_request_body_size=MAX_REPORT_BYTES if inbox else MAX_BODY_BYTES,
    )
