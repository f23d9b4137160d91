"""Break-glass on a backfill start: ``/zdm backfill start <env> [job] --break-glass "<reason>"``.

Passes the staging-first rule (``requires_staging``) once a second person confirms; unlike ``--override`` the one
who asks need not be a platform lead, and the use is announced and in the release notes. The low-traffic window
still applies: a run started outside it waits for it.
"""

from __future__ import annotations

from commands.backfill.args import parse_backfill_args
from commands.backfill.service import STARTERS, BackfillService
from commands.breakglass.model import Skip
from commands.errors import UsageError, UserError

USAGE = 'Usage: `/zdm backfill start <env> [job] --break-glass "<reason>"`.'


class BackfillBreakGlass(BackfillService):
    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        request = parse_backfill_args(text)
        if request.action != "start" or request.reason or request.env is None:
            raise UsageError(USAGE)
        self._require(actor, STARTERS, "start backfills")
        settings = self._config.backfill
        job = request.job or settings.default_job
        if job is None or job not in settings.jobs:
            raise UsageError(f"Name a backfill job from zdm.toml ({', '.join(settings.jobs) or 'none configured'}).")
        env = settings.environments.get(request.env)
        if env is None:
            raise UsageError(
                f"There is no environment `{request.env}` in zdm.toml; use one of {', '.join(settings.environments)}."
            )
        if not env.requires_staging or self._p.runs.latest(job=job, env="staging", status="verified"):
            raise UserError(
                f"Nothing blocks `{job}` on `{request.env}` now; run `/zdm backfill start {request.env} {job}`."
            )
        return Skip(
            target=f"{request.env} {job}",
            subject=job,
            what=f"start backfill `{job}` on `{request.env}`",
            gates=(f"staging first — `{job}` has not finished (verified) on staging",),
        )

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        env, _, job = target.partition(" ")
        run = self.start(env=env, job=job, actor=actor, break_glass=f"{reason} (confirmed by {confirmed_by})")
        self.announce(run)
        return f"Backfill #{run.id} of `{run.job}` on `{run.env}` is {run.status.value}."
