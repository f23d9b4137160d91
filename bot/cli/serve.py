"""``zdm serve``: the bot for Slack over HTTP (always, for the probes) and Socket Mode (with an app token), the
scheduler, and a graceful shutdown on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, cast

from bot.acks import AcksInFlight, freeze_startup_heap
from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.cli.resume import after_restart
from bot.executor import TrackingExecutor
from bot.settings import Settings
from bot.shutdown import drain
from scheduler.runner import Metronome

log = logging.getLogger("zdm")


def serve(settings: Settings) -> int:
    container = build_container(settings)
    executor = TrackingExecutor()
    app = build_app(container, executor=executor)
    services = container.services
    metronome = Metronome(
        clock=services.clock,
        tick_s=settings.scheduler_tick_s,
        jobs=services.scheduled_jobs(),
        on_error=services.report_job_error,
        observe=container.metrics.tick,
    )
    if not settings.audit_tamper_proof:
        log.warning(
            "the audit log is not tamper-proof: zdm connects to its state database as the role that owns the audit "
            "log and its triggers; set ZDM_STATE_OWNER_DATABASE_URL (migrator) and ZDM_STATE_DATABASE_URL (runtime "
            "role) as in deploy/state-roles.sql"
        )
    if container.local_mode:
        log.warning(
            "no Slack tokens set (ZDM_SLACK_BOT_TOKEN, ZDM_SLACK_SIGNING_SECRET): Slack cannot reach "
            "this server; use `zdm shell` or `zdm demo` to try zdm locally"
        )
    freeze_startup_heap()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # HTTP always: Slack's endpoint in HTTP mode, and in Socket Mode still /healthz, /readyz, /metrics (probes)
    close_http = _serve_http(app, container, stop, executor.acks)
    close_socket = _serve_socket_mode(app, settings, stop) if settings.slack_app_token else None

    def close_transport() -> None:
        if close_socket is not None:
            close_socket()
        close_http()

    threading.Thread(target=after_restart, args=(container,), name="resume", daemon=True).start()
    metronome.start()
    stop.wait()
    log.info("shutting down: finishing in-flight work (at most %g s)", settings.shutdown_grace_s)
    drained = drain(
        container=container,
        executor=executor,
        metronome=metronome,
        close_transport=close_transport,
        grace_s=settings.shutdown_grace_s,
    )
    if not drained:  # threads still busy would keep the interpreter alive past the grace period
        log.error("shutdown grace period (%g s) is over with work still running; exiting", settings.shutdown_grace_s)
        container.children.kill_all()  # no smoke test or flag CLI outlives the bot
        logging.shutdown()
        os._exit(1)
    log.info("stopped")
    return 0


def _serve_http(app: Any, container: Container, stop: threading.Event, acks: AcksInFlight) -> Callable[[], None]:
    from bot.server import LighthouseInbox, create_server

    inbox = None
    if container.settings.lighthouse_token is not None:
        clock, lighthouse = container.services.clock, container.services.lighthouse
        inbox = LighthouseInbox(
            token=container.settings.lighthouse_token.get_secret_value(),
            ingest=lambda data: lighthouse.ingest_data(data, name="posted.json", now=clock.now()).describe(),
        )
    server = create_server(
        app,
        host=container.settings.host,
        port=container.settings.port,
        threads=container.settings.http_threads,
        metrics=container.metrics,
        ready=container.readiness.reason_not_ready if container.readiness else None,
        inbox=inbox,
        signing_secret=container.signing_secret,
        acks=acks,
    )
    log.info("zdm listening on http://%s:%s/slack/events", container.settings.host, server.effective_port)

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            pass  # the server's sockets were closed by the shutdown
        finally:
            stop.set()

    threading.Thread(target=run, name="http", daemon=True).start()
    return cast(Callable[[], None], server.close)  # waits (≤ 5 s) for requests being answered


def _serve_socket_mode(app: Any, settings: Settings, stop: threading.Event) -> Callable[[], None]:
    """Connect to Slack in Socket Mode in the background, retrying with backoff: a Slack outage or a bad app token
    must not stop the process (its probes and scheduler keep running, and the log says why it is not connected)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())

    def connect() -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                handler.connect()  # type: ignore[no-untyped-call]
            except Exception as exc:
                log.warning("Socket Mode: could not connect to Slack (%s); retrying in %g s", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 60.0)
            else:
                log.info("zdm connected to Slack in Socket Mode")
                return

    threading.Thread(target=connect, name="socket-mode", daemon=True).start()
    return cast(Callable[[], None], handler.close)
