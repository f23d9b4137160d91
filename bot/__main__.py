"""zdm command line.

zdm demo      embedded Postgres + bundled demo app + local shell (no Slack needed)
zdm shell     the local shell against the configured databases
zdm serve     the bot for Slack: HTTP (/slack/events, /healthz) or Socket Mode when an app token is set
zdm check     validate settings and zdm.toml, then exit
zdm install-demo   install the bundled demo app (migrations + seed) into ZDM_TARGET_DATABASE_URL
zdm backfill-worker RUN_ID   execute one running backfill in the foreground (the scheduler normally does this)
zdm schema new "SUMMARY"     create a timestamped migration (app.migrations_dir) and its _rollback.sql pair
                             (app.rollbacks_dir, out of the Supabase CLI's reach)
zdm schema move-rollbacks    move every *_rollback.sql out of the migrations folder into app.rollbacks_dir
zdm lighthouse ingest REPORT  archive a Lighthouse JSON report, record its scores, open a ticket on a > 5-point drop
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, cast

import psycopg

from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.check import Finding, connect_findings, offline_findings, startup_problem
from bot.demo import DemoTraffic, demo_start_time, remember_demo_time
from bot.embedded import install_demo_app
from bot.executor import TrackingExecutor
from bot.lighthouse import lighthouse_ingest, shell_lighthouse
from bot.local.emulator import SlackEmulator
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from bot.shell import DemoControls, Shell
from bot.shutdown import drain
from bot.web.server import serve_web
from bot.web.workspace import Console, Workspace
from commands.adapters.clock import DemoClock, SystemClock
from commands.config import load_config
from commands.errors import ConfigError, UserError
from commands.ports import Clock
from commands.schema.layout import move_rollbacks
from commands.schema.scaffold import new_migration
from scheduler.runner import Metronome

log = logging.getLogger("zdm")
DEMO_TICK_S = 1.0  # the demo scheduler ticks every real second


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.INFO if args.cmd in ("serve", "backfill-worker") else logging.WARNING
    configure_logging(fmt="text", level=level)
    try:
        settings = load_settings()
        configure_logging(fmt=settings.log_format, level=level)
        if args.cmd == "check":
            return _check(settings, connect=args.connect)
        if args.cmd == "schema" and args.schema_cmd == "move-rollbacks":
            return _schema_move_rollbacks(settings)
        if args.cmd == "schema":
            return _schema_new(settings, args.summary)
        if args.cmd == "install-demo":
            return _install_demo(settings)
        if args.cmd == "lighthouse":
            return lighthouse_ingest(settings, args.report)
        if args.cmd == "backfill-worker":
            return _backfill_worker(settings, args.run_id)
        if args.cmd in ("shell", "demo"):
            local: dict[str, Any] = {}
            if args.cmd == "demo" or settings.embedded:  # local mode: no Slack (real databases keep real Slack)
                local |= {"slack_bot_token": None, "slack_signing_secret": None}
            if args.cmd == "demo":
                local |= {"state_database_url": None, "target_database_url": None}
            if args.user:
                local["shell_user"] = args.user
            if args.script is not None and not args.script.is_file():
                raise ConfigError(f"--script {args.script}: no such file")
            return _shell(_startable(settings.model_copy(update=local)), args)
        return _serve(_startable(settings))
    except ConfigError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:  # a database that does not answer, or refuses zdm, at start-up
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(
            f"zdm: could not connect to a database at start-up ({first}); `zdm check --connect` says which",
            file=sys.stderr,
        )
        return 2


def _check(settings: Settings, *, connect: bool) -> int:
    """Every finding on its own line, ok or why not; exit 2 when any is not ok."""
    config = load_config(settings.config_path)
    findings = [Finding(str(settings.config_path)), *offline_findings(config, settings)]
    if connect:
        findings += connect_findings(config, settings)
    for finding in findings:
        print(finding.line())
    return 2 if any(f.problem for f in findings) else 0


def _startable(settings: Settings) -> Settings:
    """Settings, once zdm.toml loads and nothing in it or in them stops start-up (else ``ConfigError``)."""
    config = load_config(settings.config_path)
    if problem := startup_problem(config, settings):
        raise ConfigError(problem)
    for finding in offline_findings(config, settings):
        if finding.problem:
            log.warning("%s (see `zdm check`)", finding.line())
    return settings


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
        p.add_argument(
            "--time-scale",
            type=float,
            help="clock speed: demo default 2000 (72 h in about 2 min) interactively, 0 (frozen; use `advance`) in "
            "scripts; shell default 1",
        )
        p.add_argument("--web", action="store_true", help="a local web page instead of the text shell (127.0.0.1)")
        p.add_argument("--port", type=int, default=8765, help="port of the --web page (default 8765, else any free)")
    sub.add_parser("serve", help="serve Slack (HTTP or Socket Mode)")
    worker = sub.add_parser("backfill-worker", help="execute one running backfill run here, in the foreground")
    worker.add_argument("run_id", type=int)
    check = sub.add_parser("check", help="validate settings and zdm.toml; --connect also reaches each service")
    check.add_argument("--connect", action="store_true", help="also connect to each database and outside service")
    schema = sub.add_parser("schema", help="migration files").add_subparsers(dest="schema_cmd", required=True)
    new = schema.add_parser("new", help="create a timestamped migration and its _rollback.sql pair")
    new.add_argument("summary", help='what the migration does, e.g. "add orders.total_eur"')
    schema.add_parser(
        "move-rollbacks", help="move *_rollback.sql files out of the migrations folder (the Supabase CLI pushes them)"
    )
    sub.add_parser("install-demo", help="install the demo app into ZDM_TARGET_DATABASE_URL (compose, trials)")
    lighthouse = sub.add_parser("lighthouse", help="Lighthouse reports").add_subparsers(dest="lh_cmd", required=True)
    ingest = lighthouse.add_parser(
        "ingest", help="archive a report, record its scores, and open an incident ticket on a drop of more than 5"
    )
    ingest.add_argument("report", type=Path, help="a Lighthouse JSON report (lighthouse --output=json)")
    return parser


def _schema_new(settings: Settings, summary: str) -> int:
    config = load_config(settings.config_path)
    try:
        forward, rollback = new_migration(
            config.migrations_path, summary, rollbacks=config.rollbacks_path, now=datetime.now(UTC)
        )
    except UserError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    print(f"created {forward}\ncreated {rollback}")
    return 0


def _schema_move_rollbacks(settings: Settings) -> int:
    config = load_config(settings.config_path)
    try:
        moves = move_rollbacks(config.migrations_path, config.rollbacks_path)
    except UserError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    for source, target in moves:
        print(f"moved {source} -> {target}")
    if not moves:
        print(f"no *_rollback.sql in {config.migrations_path}: nothing to move")
    return 0


def _run_lines(shell: Shell, args: argparse.Namespace, *, scripted: bool) -> None:
    """The shell reads the `-c` lines and the `--script` file, else standard input (prompting when interactive)."""
    if scripted:
        shell.run(list(args.command) + (args.script.read_text().splitlines() if args.script else []), prompt=False)
    else:
        shell.run(sys.stdin, prompt=shell.ask is not None)


def _shell(settings: Settings, args: argparse.Namespace) -> int:
    scripted, demo = bool(args.command or args.script), args.cmd == "demo"
    if not demo and not settings.embedded:
        return _real_shell(settings, args, scripted=scripted)
    print("Starting zdm (embedded Postgres and demo app on first run take a few seconds)…", file=sys.stderr)
    scale = args.time_scale if args.time_scale is not None else (0.0 if scripted else 2000.0) if demo else 1.0
    clock: Clock = SystemClock()
    if demo or scale != 1.0:
        clock = DemoClock(scale=scale, start=demo_start_time(settings.data_dir) if demo else None)
    container = build_container(settings, clock=clock)
    executor = TrackingExecutor()
    jobs = container.services.scheduled_jobs()
    traffic: DemoTraffic | None = None
    if demo:  # the demo app's traffic is written first, so each tick's KPI readings include it
        flag = container.services.config.flag
        lead = timedelta(seconds=scale * DEMO_TICK_S)  # a running clock moves on between a write and a read
        traffic = DemoTraffic(container.target_pool, flag=flag.name, flag_table=flag.table, lead=lead)
        jobs = {"demo_traffic": traffic, **jobs}
    tick_s = DEMO_TICK_S if demo else settings.scheduler_tick_s
    metronome = Metronome(
        clock=clock, tick_s=tick_s, jobs=jobs, time_scale=scale, on_error=container.services.report_job_error
    )
    console = Console() if args.web else None
    try:
        assert container.emulator is not None
        shell = Shell(
            app=build_app(container, executor=executor),
            emulator=container.emulator,
            signing_secret=container.signing_secret,
            executor=executor,
            user=settings.shell_user,
            out=cast(TextIO, console) if console is not None else sys.stdout,
            ask=input if sys.stdin.isatty() and not scripted and console is None else None,
            release_channel=container.services.config.channels.release,
            demo=_demo_controls(clock, metronome, traffic, container),
        )
        if container.pagerduty is not None:
            container.pagerduty.subscribers.append(
                lambda event: shell.outside("PagerDuty (local stand-in)", _page(event))
            )
        _after_restart(container)  # once the shell listens, so re-posted cards are shown
        if isinstance(clock, DemoClock):
            clock.start()
        if scale > 0:
            metronome.start()
        if console is not None:
            channels = [container.services.config.channels.release]
            return serve_web(Workspace(shell, console, channels=channels), port=args.port)
        _run_lines(shell, args, scripted=scripted)
        return 0
    finally:
        metronome.shutdown()
        executor.wait_idle(60)
        executor.shutdown(wait=True)
        if demo:
            remember_demo_time(settings.data_dir, clock.now())
        container.close()


def _real_shell(settings: Settings, args: argparse.Namespace, *, scripted: bool) -> int:
    """``zdm shell`` on configured (real) databases: no scheduler, no re-linking or re-posting of Slack messages
    (the running bot owns them), real Slack when configured, one identity (ZDM_SHELL_USER), real time."""
    refusal = real_shell_refusal(args)
    if refusal:
        print(f"zdm: {refusal}", file=sys.stderr)
        return 2
    container = build_container(settings)
    if container.emulator is not None:  # no Slack: cards stay in this shell; messages it never posted are not its own
        container.emulator.foreign_update_error = "message_not_posted_by_this_shell"
    replies = container.emulator or SlackEmulator().start()  # with real Slack: only this shell's replies
    executor = TrackingExecutor()
    try:
        shell = Shell(
            app=build_app(container, executor=executor),
            emulator=replies,
            signing_secret=container.signing_secret,
            executor=executor,
            user=settings.shell_user,
            out=sys.stdout,
            ask=input if sys.stdin.isatty() and not scripted else None,
            release_channel=container.services.config.channels.release,
            demo=DemoControls(settle=container.services.backfills.wait),
            switch_user=False,
        )
        where = "Slack" if container.emulator is None else "this shell only (no Slack tokens set)"
        shell.outside("zdm shell on real databases", f"acting as {settings.shell_user}; cards go to {where}; the "
                      "scheduler does not run here (the bot does that)")  # fmt: skip
        _run_lines(shell, args, scripted=scripted)
        return 0
    finally:
        executor.wait_idle(60)
        executor.shutdown(wait=True)
        if replies is not container.emulator:
            replies.stop()
        container.close()


def real_shell_refusal(args: argparse.Namespace) -> str | None:
    """Why ``zdm shell`` on real databases will not start with these options (None: it will)."""
    if args.user:
        return "`--as` only works in `zdm demo`: on real databases the shell acts as ZDM_SHELL_USER (your own user id)."
    if args.time_scale is not None and args.time_scale != 1.0:
        return "`--time-scale` only works in `zdm demo`: on real databases the shell runs on real time."
    return None


def _page(event: dict[str, Any]) -> str:
    payload = event.get("payload") or {}
    text = f"{event.get('event_action')} {event.get('dedup_key')}"
    return text + (f" [{payload.get('severity')}]: {payload.get('summary')}" if payload else "")


def _demo_controls(
    clock: Clock, metronome: Metronome, traffic: DemoTraffic | None, container: Container
) -> DemoControls:
    controls = DemoControls(tick=metronome.tick, now=clock.now, settle=container.services.backfills.wait)
    release, github = container.services.config.release, container.github
    if github is not None and release.github_repo:
        repo, number = release.github_repo, release.issue or 1
        controls.release_issue = lambda: f"{repo}#{number}\n" + str(github.issue(repo, number)["body"])
    if isinstance(clock, DemoClock):
        controls.advance = clock.advance
    if traffic is not None:
        controls.set_error_rate = lambda rate, tenant: traffic.set_error_rate(rate, tenant, now=clock.now())
        controls.catch_up = lambda: traffic(clock.now())
    controls.lighthouse = lambda path: shell_lighthouse(container, clock, path)
    return controls


def _serve(settings: Settings) -> int:
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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # HTTP always: Slack's endpoint in HTTP mode, and in Socket Mode still /healthz, /readyz, /metrics (probes)
    close_http = _serve_http(app, container, stop)
    close_socket = _serve_socket_mode(app, settings, stop) if settings.slack_app_token else None

    def close_transport() -> None:
        if close_socket is not None:
            close_socket()
        close_http()

    threading.Thread(target=_after_restart, args=(container,), name="resume", daemon=True).start()
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


def _backfill_worker(settings: Settings, run_id: int) -> int:
    """Run one backfill in this process (the bot's scheduler normally does this in a thread)."""
    container = build_container(settings)
    try:
        backfills = container.services.backfills
        if backfills.get(run_id) is None:
            print(f"zdm: there is no backfill run #{run_id}", file=sys.stderr)
            return 2
        run = backfills.execute(run_id, wait_s=settings.lock_lease_s + 2)  # a crashed worker's lock runs out first
    finally:
        container.close()
    if run is None:
        print(f"zdm: another zdm process is executing backfill #{run_id}", file=sys.stderr)
        return 3
    print(f"backfill #{run.id}: {run.status.value}" + (f" ({run.reason})" if run.reason else ""))
    return 0 if run.status.value in ("verified", "paused", "running") else 1


def _install_demo(settings: Settings) -> int:
    """The demo app (app.root in zdm.toml: migrations, then seed; both idempotent) into the target database, for
    a zdm that runs on real database URLs (compose) rather than the embedded Postgres."""
    if not settings.target_database_url:
        print("zdm: set ZDM_TARGET_DATABASE_URL to the database to install the demo app into", file=sys.stderr)
        return 2
    config = load_config(settings.config_path)
    if not _database_answers(settings.target_database_url):
        print("zdm: the target database did not accept a connection within 60 s", file=sys.stderr)
        return 1
    applied = install_demo_app(settings.target_database_url, config.app.root)
    print("demo app installed: " + (", ".join(applied) if applied else "already up to date"))
    return 0


def _database_answers(url: str, *, attempts: int = 30, pause_s: float = 2.0) -> bool:
    """Retry the first connection: a database container reported healthy can still be restarting after its
    first-run initialisation."""
    import psycopg

    for attempt in range(1, attempts + 1):
        try:
            with psycopg.connect(url, connect_timeout=5):
                return True
        except psycopg.OperationalError as exc:
            log.warning("target database not reachable yet (attempt %d of %d): %s", attempt, attempts, exc)
            if attempt < attempts:
                time.sleep(pause_s)
    return False


def _after_restart(container: Container) -> None:
    """Continue interrupted rollbacks, refresh (or re-post) pending rollout prompts and every stage's live card
    (backfill progress, schema deploys awaiting approval, rollbacks awaiting their schema confirmation, cleanups),
    and drop leftover scratch databases."""
    try:
        container.services.rollbacks.resume_unfinished()
        container.services.rollouts.relink_prompts()
    except Exception:
        log.exception("could not resume work after start-up")
    try:
        container.sweep_scratch_databases()
    except Exception:
        log.exception("could not sweep leftover scratch databases")
    services = container.services
    for stage, relink in (
        ("rollback", services.rollbacks.relink_cards),
        ("backfill", services.backfills.relink_cards),
        ("schema", services.schema.relink_cards),
        ("cleanup", services.cleanup.relink_cards),
    ):
        try:
            relink()
        except Exception:  # one stage's trouble must not keep the others' cards stale
            log.exception("could not refresh the %s cards after start-up", stage)


def _serve_http(app: Any, container: Container, stop: threading.Event) -> Callable[[], None]:
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


if __name__ == "__main__":
    sys.exit(main())
