"""zdm command line.

zdm demo      embedded Postgres + bundled demo app + local shell (no Slack needed)
zdm shell     the local shell against the configured databases
zdm serve     the bot for Slack: HTTP (/slack/events, /healthz) or Socket Mode when an app token is set
zdm check     validate settings and zdm.toml, then exit
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.executor import TrackingExecutor
from bot.settings import Settings, load_settings
from bot.shell import Shell
from commands.config import load_config
from commands.errors import ConfigError
from scheduler.jobs import purge_request_ledger
from scheduler.runner import Metronome

log = logging.getLogger("zdm")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.cmd == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
        if args.cmd == "check":
            load_config(settings.config_path)
            print(f"{settings.config_path}: ok")
            return 0
        if args.cmd in ("shell", "demo"):
            local: dict[str, Any] = {"slack_bot_token": None, "slack_signing_secret": None}
            if args.cmd == "demo":
                local |= {"state_database_url": None, "target_database_url": None}
            if args.user:
                local["shell_user"] = args.user
            return _shell(settings.model_copy(update=local), args)
        return _serve(settings)
    except ConfigError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zdm", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, text in (
        ("demo", "embedded demo + shell"),
        ("shell", "local shell on the configured databases"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--as", dest="user", help="Slack user id to act as (default: ZDM_SHELL_USER)")
        p.add_argument("-c", "--command", action="append", default=[], help="run this line, then exit (repeatable)")
        p.add_argument("--script", type=Path, help="run the lines of this file, then exit")
    sub.add_parser("serve", help="serve Slack (HTTP or Socket Mode)")
    sub.add_parser("check", help="validate settings and zdm.toml")
    return parser


def _shell(settings: Settings, args: argparse.Namespace) -> int:
    print("Starting zdm (embedded Postgres and demo app on first run take a few seconds)…", file=sys.stderr)
    container = build_container(settings)
    executor = TrackingExecutor()
    try:
        app = build_app(container, executor=executor)
        container.services.rollbacks.resume_unfinished()
        assert container.emulator is not None
        interactive = sys.stdin.isatty() and not args.command and not args.script
        shell = Shell(
            app=app,
            emulator=container.emulator,
            signing_secret=container.signing_secret,
            executor=executor,
            user=settings.shell_user,
            ask=input if interactive else None,
            release_channel=container.services.config.channels.release,
        )
        if args.command or args.script:
            lines = list(args.command) + (args.script.read_text().splitlines() if args.script else [])
            shell.run(lines, prompt=False)
        else:
            shell.run(sys.stdin, prompt=interactive)
        return 0
    finally:
        executor.wait_idle(60)
        executor.shutdown(wait=True)
        container.close()


def _serve(settings: Settings) -> int:
    container = build_container(settings)
    executor = TrackingExecutor()
    app = build_app(container, executor=executor)
    services = container.services
    metronome = Metronome(
        clock=services.clock,
        tick_s=settings.scheduler_tick_s,
        jobs={
            "purge_request_ledger": purge_request_ledger(services.ledger),
            # picks up rollbacks interrupted by a crash and decisions recorded while another worker was busy
            "resume_rollbacks": lambda _now: services.rollbacks.resume_unfinished(),
        },
    )
    if container.local_mode:
        log.warning(
            "no Slack tokens set (ZDM_SLACK_BOT_TOKEN, ZDM_SLACK_SIGNING_SECRET): Slack cannot reach "
            "this server; use `zdm shell` or `zdm demo` to try zdm locally"
        )
    threading.Thread(target=services.rollbacks.resume_unfinished, name="resume", daemon=True).start()
    metronome.start()
    stop = _serve_http(app, container) if not settings.slack_app_token else _serve_socket_mode(app, settings)
    try:
        stop.wait()
    finally:
        metronome.shutdown()
        executor.wait_idle(30)
        executor.shutdown(wait=True)
        container.close()
    return 0


def _serve_http(app: Any, container: Container) -> threading.Event:
    from bot.server import create_server

    server = create_server(
        app,
        host=container.settings.host,
        port=container.settings.port,
        threads=container.settings.http_threads,
    )
    stop = threading.Event()

    def shutdown(_signum: int, _frame: Any) -> None:
        log.info("shutting down")
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("zdm listening on http://%s:%s/slack/events", container.settings.host, server.effective_port)

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            pass  # the server's sockets were closed by the signal handler
        finally:
            stop.set()

    threading.Thread(target=run, name="http", daemon=True).start()
    return stop


def _serve_socket_mode(app: Any, settings: Settings) -> threading.Event:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("zdm connected to Slack in Socket Mode")
    return stop


if __name__ == "__main__":
    sys.exit(main())
