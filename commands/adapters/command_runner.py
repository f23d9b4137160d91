"""Runs external commands as argv lists (never through a shell) with a timeout, keeping the output's tail."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from commands.ports import CommandResult

TAIL_LINES = 40
TAIL_CHARS = 3000


SECRET_PREFIXES = ("ZDM_", "SLACK_")


def child_environment() -> dict[str, str]:
    """The bot's environment minus its own secrets: smoke tests and flag CLIs never see Slack tokens."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}


def tail(text: str, *, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


class SubprocessRunner:
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        full_env = {**child_environment(), **(env or {})}
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,  # so a timeout can kill the whole process group
            )
        except OSError as exc:
            return CommandResult(tuple(argv), None, "", time.monotonic() - started, error=exc.strerror or str(exc))
        try:
            out, _ = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a descendant left the group and still holds the pipe
                proc.kill()
                out = b""
            timed_out = True
        text = out.decode("utf-8", errors="replace")
        return CommandResult(tuple(argv), proc.returncode, tail(text), time.monotonic() - started, timed_out=timed_out)
