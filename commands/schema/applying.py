"""Applying an approved schema deploy, in the environment's mode: ``native`` (zdm runs each file in its own
transaction) or ``supabase`` (zdm runs the configured ``supabase db push`` and reads the history it leaves).

The caller holds the environment's lock; versions already in the history are skipped, so a deploy resumed after a
crash never applies a file twice. A deploy whose files changed since approval fails before anything runs.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import replace

from commands.schema.config import SchemaEnvironment
from commands.schema.context import SchemaContext
from commands.schema.history import MigrationFile
from commands.schema.layout import layout_findings
from commands.schema.model import Deploy, DeployStatus, MigrationFailed, plan_hash
from commands.schema.ports import SchemaTarget
from commands.schema.release_line import ReleaseLine

log = logging.getLogger(__name__)


class SchemaApplier:
    def __init__(self, ctx: SchemaContext, *, release_line: ReleaseLine) -> None:
        self._ctx = ctx
        self._release_line = release_line

    def resume_unfinished(self) -> None:
        """Finish deploys left "applying" by a crash (scheduler); versions already in the history are skipped."""
        deploys = self._ctx.ports.deploys
        for stuck in deploys.applying():
            with deploys.exclusive(stuck.env) as held:
                deploy = deploys.get(stuck.id) if held else None
                if deploy is not None and deploy.status is DeployStatus.APPLYING:
                    log.info("resuming schema deploy #%s to %s after a restart", deploy.id, deploy.env)
                    self.apply(replace(deploy, notes=(*deploy.notes, "resumed after a zdm restart")))

    def apply(self, deploy: Deploy) -> str:
        """Apply an approved deploy (caller holds the environment lock), then record it in the release issue."""
        ctx, deploys = self._ctx, self._ctx.ports.deploys
        deploy = replace(deploy, status=DeployStatus.APPLYING)
        deploys.save(deploy)
        ctx.refresh(deploy)
        files = ctx.files(deploy)
        try:
            if (
                len(files) != len(deploy.files)
                or plan_hash(deploy.env, files, commit=deploy.commit) != deploy.plan_hash
            ):
                # e.g. resumed after a crash, and someone edited or removed a file meanwhile: not what was approved
                raise MigrationFailed(
                    file=", ".join(deploy.files), error="the files changed since they were approved", applied=[]
                )
            self._run_migrations(deploy.env, files)
        except MigrationFailed as exc:
            return self._failed(deploy, exc)
        applied = [m.version for m in files]  # all its files, including those a run before a restart applied
        deploy = replace(deploy, status=DeployStatus.APPLIED, applied=tuple(applied), finished_at=ctx.ports.clock.now())
        ctx.audit("zdm", "schema.deploy.apply", deploy.env, "ok", deploy_id=deploy.id, versions=list(applied))
        deploy = self._release_line.record(deploy)
        deploys.save(deploy)
        ctx.refresh(deploy)
        return f"Schema deploy #{deploy.id} to `{deploy.env}` applied: {', '.join(f'`{v}`' for v in applied)}."

    def _failed(self, deploy: Deploy, exc: MigrationFailed) -> str:
        ctx = self._ctx
        deploy = replace(
            deploy,
            status=DeployStatus.FAILED,
            applied=tuple(exc.applied),
            error=f"`{exc.file}`: {exc.error}",
            finished_at=ctx.ports.clock.now(),
        )
        ctx.ports.deploys.save(deploy)
        ctx.refresh(deploy)
        ctx.audit("zdm", "schema.deploy.apply", deploy.env, "failed", deploy_id=deploy.id, file=exc.file)
        ctx.ports.failures.report(
            what=f"Schema deploy #{deploy.id} to `{deploy.env}`",
            where=f"`{exc.file}` (rolled back; the history is unchanged for it)",
            error=exc.error,
            next_command=f"fix the file, then `/zdm schema plan {deploy.env}` and deploy again",
        )
        return f"Schema deploy #{deploy.id} failed at `{exc.file}`: {exc.error}. Nothing of that file was applied."

    def _run_migrations(self, env: str, files: list[MigrationFile]) -> list[str]:
        settings, target = self._ctx.config.schema_stage.environments[env], self._ctx.target(env)
        if settings.mode == "native":
            return target.apply(files, lock_timeout_ms=self._ctx.config.schema_stage.lock_timeout_ms)
        return self._push_with_supabase_cli(env, files, settings=settings, target=target)

    def _push_with_supabase_cli(
        self, env: str, files: list[MigrationFile], *, settings: SchemaEnvironment, target: SchemaTarget
    ) -> list[str]:
        """Run ``settings.push_argv``; the versions it added to the history are what it applied."""
        ctx = self._ctx
        if strays := layout_findings(ctx.folder(env), rollbacks_dir=ctx.config.app.rollbacks_dir):
            # the push would run these too: a rollback forward undoes its migration
            raise MigrationFailed(file=strays[0].file, error=f"not pushed: {strays[0].message}", applied=[])
        before = set(target.applied())
        result = ctx.ports.runner.run(settings.push_argv, timeout_s=settings.push_timeout_s, cwd=ctx.config.app.root)
        after = set(target.applied())
        applied = sorted(after - before)
        missing = [m.file_name for m in files if m.version not in after]
        if result.ok and missing:
            raise MigrationFailed(file=missing[0], error="not in the migration history after the push", applied=applied)
        if not result.ok:
            why = "timed out" if result.timed_out else result.error or f"exit {result.exit_code}"
            raise MigrationFailed(
                file=shlex.join(settings.push_argv), error=f"{why}: {result.output_tail[-300:]}", applied=applied
            )
        return applied
