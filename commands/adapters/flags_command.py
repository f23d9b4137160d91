"""Flag backend that runs the team's own CLI (e.g. ``pnpm flags:disable <flag> --tenant=<slug>``) per tenant."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from commands.argv import expand_argv
from commands.ports import CommandRunner, FlipOutcome


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
        recorded: Callable[..., set[str]] | None = None,
    ) -> None:
        self._recorded = recorded  # zdm's exposure record answers what a write-only CLI cannot
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

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        """A write-only CLI cannot say: zdm's own record of what it enabled and disabled answers."""
        return self._recorded(flag=flag, tenants=tenants) if self._recorded else set()

    def enable_many(self, *, flag: str, tenants: Sequence[str], actor: str) -> FlipOutcome:
        """Tenant by tenant (a CLI has no transaction); each failure is kept with its reason, the rest go on."""
        changed: list[str] = []
        failed: list[tuple[str, str]] = []
        for tenant in tenants:
            try:
                self.set_enabled(tenant=tenant, flag=flag, enabled=True, actor=actor)
                changed.append(tenant)
            except FlagCommandFailed as exc:
                failed.append((tenant, str(exc)[:200]))
        return FlipOutcome(changed=tuple(changed), failed=tuple(failed))
