"""Runs external commands as argv lists (never through a shell) with a timeout, keeping the output's tail."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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


class ChildProcesses:
    """The process groups of the children running now (each child leads its own group, with its descendants), so
    that shutdown, and the end of each child, leaves nothing behind."""

    def __init__(self) -> None:
        self._groups: set[int] = set()
        self._lock = threading.Lock()

    @contextmanager
    def running(self, argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
        """Start ``argv`` in a new process group; on leaving, whatever is left of the group is killed."""
        proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), start_new_session=True, **popen)
        with self._lock:
            self._groups.add(proc.pid)
        try:
            yield proc
        finally:
            with self._lock:
                self._groups.discard(proc.pid)
            _kill_group(proc.pid)
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def kill_all(self) -> int:
        """SIGKILL every running child's process group (shutdown, deadline); how many groups there were."""
        with self._lock:
            groups = list(self._groups)
        for group in groups:
            _kill_group(group)
        return len(groups)

    @property
    def running_groups(self) -> list[int]:
        with self._lock:
            return sorted(self._groups)


def _kill_group(group: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(group, signal.SIGKILL)


class SubprocessRunner:
    def __init__(self, children: ChildProcesses | None = None) -> None:
        self.children = children or ChildProcesses()

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
            with self.children.running(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
            ) as proc:
                try:
                    out, _ = proc.communicate(timeout=timeout_s)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    _kill_group(proc.pid)
                    try:
                        out, _ = proc.communicate(timeout=5)
                    except subprocess.TimeoutExpired:  # a descendant left the group and still holds the pipe
                        proc.kill()
                        out = b""
                    timed_out = True
        except OSError as exc:
            return CommandResult(tuple(argv), None, "", time.monotonic() - started, error=exc.strerror or str(exc))
        text = out.decode("utf-8", errors="replace")
        return CommandResult(tuple(argv), proc.returncode, tail(text), time.monotonic() - started, timed_out=timed_out)
