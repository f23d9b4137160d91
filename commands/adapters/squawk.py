"""squawk, the Postgres migration linter (``squawk-cli`` on PyPI), run as an argv list with its JSON reporter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from commands.adapters.command_runner import ChildProcesses, child_environment
from commands.errors import UserError
from commands.schema.config import LintConfig
from commands.schema.history import MigrationFile
from commands.schema.lint import Finding, squawk_findings


class SquawkUnavailable(UserError):
    """squawk is not installed or did not produce its report; the sentence says what to do."""


class SquawkLinter:
    def __init__(self, config: LintConfig, *, children: ChildProcesses | None = None) -> None:
        self._config = config
        self._children = children or ChildProcesses()

    def lint(self, files: Sequence[MigrationFile]) -> list[Finding]:
        if not files:
            return []
        argv = [
            *self._program(),
            "--reporter",
            "json",
            "--assume-in-transaction",  # zdm and the Supabase CLI wrap each file in a transaction
            *(["--exclude", ",".join(self._config.squawk_exclude)] if self._config.squawk_exclude else []),
            *(str(m.path) for m in files),
        ]
        try:
            with self._children.running(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                env=child_environment(),
            ) as proc:  # fmt: skip
                stdout, stderr = proc.communicate(timeout=self._config.timeout_s)
            done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SquawkUnavailable(f"squawk could not run ({exc}); install `squawk-cli` or set schema.lint") from exc
        if done.returncode not in (0, 1) or (done.returncode == 1 and not done.stdout.strip()):
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise SquawkUnavailable(f"squawk failed: {why[0][:200]}")
        names = {str(m.path): m.file_name for m in files}
        try:
            return squawk_findings(done.stdout, names=names, blocking=self._config.squawk_blocking)
        except ValueError as exc:
            raise SquawkUnavailable(
                f"squawk's report could not be read ({exc}); check schema.lint.squawk_argv"
            ) from exc

    def _program(self) -> list[str]:
        argv = list(self._config.squawk_argv)
        if argv[0] == "squawk":  # prefer the one installed next to this Python (the project's venv)
            beside = Path(sys.executable).parent / "squawk"
            argv[0] = str(beside) if beside.exists() else (shutil.which("squawk") or "squawk")
        return argv
