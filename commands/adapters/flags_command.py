"""Flag backend that runs the team's own CLI (e.g. ``pnpm flags:disable <flag> --tenant=<slug>``) per tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from commands.argv import expand_argv
from commands.ports import CommandRunner


class FlagCommandFailed(RuntimeError):
    pass


class CommandFlagStore:
    def __init__(
        self,
        *,
        runner: CommandRunner,
        enable_argv: Sequence[str],
        disable_argv: Sequence[str],
        timeout_s: float,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._cwd = cwd
        self._env = dict(env or {})
        self._runner = runner
        self._enable = tuple(enable_argv)
        self._disable = tuple(disable_argv)
        self._timeout = timeout_s

    def set_enabled(self, *, tenant: str, flag: str, enabled: bool, actor: str) -> str:
        argv = expand_argv(self._enable if enabled else self._disable, tenant=tenant, flag=flag, actor=actor)
        result = self._runner.run(argv, timeout_s=self._timeout, env=self._env, cwd=self._cwd)
        if not result.ok:
            why = "timed out" if result.timed_out else result.error or f"exit code {result.exit_code}"
            raise FlagCommandFailed(f"`{' '.join(argv)}` failed ({why}): {result.output_tail[-300:]}")
        return f"`{' '.join(argv)}` succeeded"
