"""The smoke-test step of a rollback: the app's tenancy tests as an argv with a timeout, never through a shell."""

from __future__ import annotations

from collections.abc import Mapping

from commands.argv import expand_argv
from commands.config import RunbookConfig
from commands.ports import Clock, CommandRunner, JobFailures
from commands.rollback.model import Rollback, Step, StepResult, StepStatus


def run_smoke_tests(
    rollback: Rollback,
    *,
    config: RunbookConfig,
    runner: CommandRunner,
    clock: Clock,
    failures: JobFailures | None,
    env: Mapping[str, str],
) -> StepResult:
    """Run the configured smoke tests for the rolled-back tenant; a failure is also reported to the release channel
    (folded), and the output tail is kept for the card and the rollback log."""
    settings = config.rollback
    argv = expand_argv(settings.smoke_argv, tenant=rollback.tenant, flag=rollback.flag)
    result = runner.run(argv, timeout_s=settings.smoke_timeout_s, env=env, cwd=config.app.root)
    if result.ok:
        detail = f"passed in {result.duration_s:.1f} s"
    elif result.timed_out:
        detail = f"timed out after {settings.smoke_timeout_s:g} s"
    elif result.error:
        detail = f"could not start `{argv[0]}`: {result.error}"
    else:
        detail = f"failed with exit code {result.exit_code} after {result.duration_s:.1f} s"
    status = StepStatus.OK if result.ok else StepStatus.FAILED
    if not result.ok and failures is not None:
        failures.report(
            what=f"Smoke tests after the rollback of `{rollback.tenant}`",
            where=f"`{' '.join(argv)[:120]}` in the app checkout",
            error=detail,
            next_command=f"check `{rollback.tenant}` by hand (the rollback card has the test output)",
        )
    return StepResult(Step.SMOKE_TESTS, status, detail, clock.now(), result.output_tail)
