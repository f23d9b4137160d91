"""``zdm shell`` on configured (real) databases, and the line reading every shell shares."""

from __future__ import annotations

import argparse
import sys

from bot.app import build_app
from bot.bootstrap import build_container
from bot.executor import TrackingExecutor
from bot.local.emulator import SlackEmulator
from bot.settings import Settings
from bot.shell import DemoControls, Shell


def run_lines(shell: Shell, args: argparse.Namespace, *, scripted: bool) -> None:
    """The shell reads the `-c` lines and the `--script` file, else standard input (prompting when interactive)."""
    if scripted:
        shell.run(list(args.command) + (args.script.read_text().splitlines() if args.script else []), prompt=False)
    else:
        shell.run(sys.stdin, prompt=shell.ask is not None)


def real_shell(settings: Settings, args: argparse.Namespace, *, scripted: bool) -> int:
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
        run_lines(shell, args, scripted=scripted)
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
