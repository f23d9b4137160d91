"""``zdm demo`` (and ``zdm shell`` on the embedded Postgres): the local shell wired to a demo clock, the
scheduler, the demo app's traffic and the local stand-ins."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO, cast

from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.cli.real_shell import run_lines
from bot.cli.resume import after_restart
from bot.demo import DemoTraffic, demo_start_time, remember_demo_time
from bot.executor import TrackingExecutor
from bot.lighthouse import shell_lighthouse
from bot.settings import Settings
from bot.shell import DemoControls, Shell
from bot.web.server import serve_web
from bot.web.workspace import Console, Workspace
from commands.adapters.clock import DemoClock, SystemClock
from commands.ports import Clock
from scheduler.runner import Metronome

DEMO_TICK_S = 1.0  # the demo scheduler ticks every real second


def local_shell(settings: Settings, args: argparse.Namespace, *, scripted: bool) -> int:
    """``zdm demo``, or ``zdm shell`` on the embedded Postgres: the scheduler runs here, on a demo clock when the
    time scale is not 1."""
    demo = args.cmd == "demo"
    print("Starting zdm (embedded Postgres and demo app on first run take a few seconds)…", file=sys.stderr)
    scale = args.time_scale if args.time_scale is not None else (0.0 if scripted else 2000.0) if demo else 1.0
    clock: Clock = SystemClock()
    if demo or scale != 1.0:
        clock = DemoClock(scale=scale, start=demo_start_time(settings.data_dir) if demo else None)
    container = build_container(settings, clock=clock)
    executor = TrackingExecutor()
    tick_s = DEMO_TICK_S if demo else settings.scheduler_tick_s
    metronome, traffic = scheduler(container, clock, scale=scale, tick_s=tick_s, traffic=demo)
    console = Console() if args.web else None
    try:
        shell = wired_shell(
            container,
            clock=clock,
            metronome=metronome,
            traffic=traffic,
            executor=executor,
            user=settings.shell_user,
            out=cast(TextIO, console) if console is not None else sys.stdout,
            ask=input if sys.stdin.isatty() and not scripted and console is None else None,
        )
        after_restart(container)  # once the shell listens, so re-posted cards are shown
        if isinstance(clock, DemoClock):
            clock.start()
        if scale > 0:
            metronome.start()
        if console is not None:
            channels = [container.services.config.channels.release]
            return serve_web(Workspace(shell, console, channels=channels), port=args.port)
        run_lines(shell, args, scripted=scripted)
        return 0
    finally:
        metronome.shutdown()
        executor.wait_idle(60)
        executor.shutdown(wait=True)
        if demo:
            remember_demo_time(settings.data_dir, clock.now())
        container.close()


def scheduler(
    container: Container, clock: Clock, *, scale: float, tick_s: float, traffic: bool
) -> tuple[Metronome, DemoTraffic | None]:
    """The shell's scheduler: every timed job, and with ``traffic`` the demo app's requests written first, so each
    tick's KPI readings include them."""
    jobs = container.services.scheduled_jobs()
    demo_traffic: DemoTraffic | None = None
    if traffic:
        flag = container.services.config.flag
        lead = timedelta(seconds=scale * tick_s)  # a running clock moves on between a write and a read
        demo_traffic = DemoTraffic(container.target_pool, flag=flag.name, flag_table=flag.table, lead=lead)
        jobs = {"demo_traffic": demo_traffic, **jobs}
    metronome = Metronome(
        clock=clock, tick_s=tick_s, jobs=jobs, time_scale=scale, on_error=container.services.report_job_error
    )
    return metronome, demo_traffic


def wired_shell(
    container: Container,
    *,
    clock: Clock,
    metronome: Metronome,
    traffic: DemoTraffic | None,
    executor: TrackingExecutor,
    user: str,
    out: TextIO,
    ask: Callable[[str], str] | None,
) -> Shell:
    """The local shell on the real Bolt app, with the demo controls, printing the local PagerDuty's pages."""
    assert container.emulator is not None
    shell = Shell(
        app=build_app(container, executor=executor),
        emulator=container.emulator,
        signing_secret=container.signing_secret,
        executor=executor,
        user=user,
        out=out,
        ask=ask,
        release_channel=container.services.config.channels.release,
        demo=demo_controls(clock, metronome, traffic, container),
    )
    if container.pagerduty is not None:
        container.pagerduty.subscribers.append(
            lambda event: shell.outside("PagerDuty (local stand-in)", page_text(event))
        )
    return shell


def page_text(event: dict[str, Any]) -> str:
    payload = event.get("payload") or {}
    text = f"{event.get('event_action')} {event.get('dedup_key')}"
    return text + (f" [{payload.get('severity')}]: {payload.get('summary')}" if payload else "")


def demo_controls(
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
