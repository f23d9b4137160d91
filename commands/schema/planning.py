"""A schema plan: which files are pending against an environment's history, the lint of them and of the folder's
layout, and the clean bootstrap from zero (``/zdm schema plan <env>``; a deploy request plans first)."""

from __future__ import annotations

from dataclasses import replace

from commands.schema.context import SchemaContext
from commands.schema.history import MigrationFile, list_migrations
from commands.schema.layout import layout_findings, rollback_pairs
from commands.schema.lint import additive_findings
from commands.schema.model import Deploy, Plan, out_of_order
from commands.schema.prelude import platform_prelude
from commands.schema.views import plan_card


class SchemaPlanner:
    def __init__(self, ctx: SchemaContext) -> None:
        self._ctx = ctx

    def plan(self, env: str, *, include_all: bool = False) -> Plan:
        """Pending vs applied, lint of the pending files (and of the folder's layout), and the clean bootstrap."""
        ctx, config = self._ctx, self._ctx.config
        base, files = self.pending(env, include_all=include_all)
        snapshot = ctx.snapshot(env, base.commit)
        folder = ctx.folder(env, snapshot)
        findings = layout_findings(folder, rollbacks_dir=config.app.rollbacks_dir)
        findings += [f for m in base.pending for f in additive_findings(m)] + ctx.ports.linter.lint(base.pending)
        if not config.schema_stage.environments[env].approvals:  # nobody to acknowledge dynamic SQL
            findings = [replace(f, blocking=True) if f.review else f for f in findings]
        stage = config.schema_stage
        seed = folder.parent / "seed.sql" if stage.bootstrap_seed else None
        pairs = rollback_pairs(
            [m.version for m in base.pending],
            rollbacks=snapshot.root / config.app.rollbacks_dir,
            migrations=folder,
        )
        bootstrap = ctx.target(env).bootstrap(
            files,
            seed=seed,
            lock_timeout_ms=stage.lock_timeout_ms,
            prelude=platform_prelude(stage, root=config.app.root),
            rollbacks=pairs,
        )
        return replace(base, findings=tuple(findings), bootstrap=bootstrap)

    def pending(self, env: str, *, include_all: bool, commit: str | None = None) -> tuple[Plan, list[MigrationFile]]:
        """Which files are pending (no lint, no bootstrap), and every forward file — at ``commit``, or at the newest
        commit of the environment's ref (fetched now)."""
        snapshot = self._ctx.snapshot(env, commit)
        files = list_migrations(self._ctx.folder(env, snapshot))
        applied = self._ctx.target(env).applied()
        pending = [m for m in files if m.version not in applied]
        plan = Plan(
            env=env,
            pending=tuple(pending),
            applied=tuple(sorted(applied)),
            out_of_order=out_of_order(pending, set(applied)),
            include_all=include_all,
            commit=snapshot.commit,
        )
        return plan, files

    def current_hash(self, deploy: Deploy) -> str:
        """The hash of what would be applied now (only which files and their bytes: no lint, no bootstrap), at the
        deploy's commit: a newer commit on the branch is a new plan, not a change to this one."""
        return self.pending(deploy.env, include_all=deploy.include_all, commit=deploy.commit)[0].plan_hash

    def post_plan(self, env: str, *, include_all: bool = False) -> str:
        plan = self.plan(env, include_all=include_all)
        self._ctx.ports.notifier.post(self._ctx.config.channels.release, plan_card(plan))
        if problems := self.report_problems(plan, f"Schema plan for `{env}`", f"`/zdm schema plan {env}` again"):
            return f"The plan for `{env}` cannot be deployed: {problems[0]}."
        if not plan.to_apply:
            return f"`{env}` is up to date: nothing to deploy."
        return f"The plan for `{env}` is ready: {len(plan.to_apply)} file(s), plan hash `{plan.plan_hash}`."

    def report_problems(self, plan: Plan, what: str, then: str) -> list[str]:
        """Post the plan's problems to the release channel as a job failure; return them."""
        problems = plan.problems()
        if problems:
            self._ctx.ports.failures.report(
                what=what, where=_where(plan), error="; ".join(problems), next_command=f"fix the migration, then {then}"
            )
        return problems


def _where(plan: Plan) -> str:
    if plan.blocking:
        return f"`{plan.blocking[0].where}`"
    if plan.bootstrap is not None and not plan.bootstrap.ok:
        return f"`{plan.bootstrap.file}` (clean bootstrap in {plan.bootstrap.where})"
    return f"`{plan.env}`"
