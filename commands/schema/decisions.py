"""Requesting a schema deploy and deciding on it: the approval and cancel buttons.

A request plans first and stops on any blocking finding; an environment that needs approvals waits for one `dba`
and one `platform_lead`, bound to the plan hash (a file changed after the request voids the approvals); one that
does not is applied at once. A broken rollback path blocks approval unless the deploy was requested by break-glass.
"""

from __future__ import annotations

from dataclasses import replace

from commands.errors import StalePrompt, UserError
from commands.readiness.model import RollbackNotReady
from commands.schema.applying import SchemaApplier
from commands.schema.context import SchemaContext
from commands.schema.model import APPROVER_ROLES, Deploy, DeployStatus, approve, void
from commands.schema.planning import SchemaPlanner
from commands.text import printable

REQUESTERS = ("dba", "platform_lead", "release_approvers")


class SchemaDecisions:
    def __init__(self, ctx: SchemaContext, *, planner: SchemaPlanner, applier: SchemaApplier) -> None:
        self._ctx = ctx
        self._planner = planner
        self._applier = applier

    def request_deploy(
        self,
        env: str,
        *,
        actor: str,
        include_all: bool = False,
        release: int | None = None,
        break_glass: str | None = None,
    ) -> str:
        """``break_glass``: a confirmed break-glass lets it past a refusing checklist and rollback readiness."""
        ctx, ports = self._ctx, self._ctx.ports
        plan = self._planner.plan(env, include_all=include_all)
        then = f"`/zdm schema deploy {env}` again (`/zdm schema plan {env}` lists every finding)"
        if problems := self._planner.report_problems(plan, f"Schema deploy to `{env}`", then):
            return f"Nothing was deployed to `{env}`: {problems[0]}."
        if not plan.to_apply:
            return f"`{env}` is up to date: nothing to deploy."
        names = [m.file_name for m in plan.to_apply]
        gate = ports.checklist.preflight(migrations=names) if ports.checklist else None
        if gate is not None and gate.refuse and break_glass is None:
            ctx.audit(actor, "schema.deploy.request", env, "refused", release=gate.release, why="checklist")
            return f"Nothing was deployed to `{env}`: {gate.sentence()}."
        now = ports.clock.now()
        settings = ctx.config.schema_stage.environments[env]
        deploy = ports.deploys.create(
            Deploy(
                id=0,
                env=env,
                plan_hash=plan.plan_hash,
                files=tuple(m.file_name for m in plan.to_apply),
                requester=actor,
                requested_at=now,
                needs_approval=settings.approvals,
                include_all=include_all,
                release=ctx.release_ref(release),
                notes=(
                    *((f"⚠️ requested while {gate.sentence()}",) if gate else ()),
                    *((f"🔓 break-glass: {break_glass}",) if break_glass else ()),
                ),
                reviews=plan.reviews,
                commit=plan.commit,
                break_glass=break_glass,
            )
        )
        ctx.audit(actor, "schema.deploy.request", env, "ok", deploy_id=deploy.id, plan_hash=deploy.plan_hash)
        ref = ports.notifier.post(ctx.config.channels.release, ctx.card(deploy))
        deploy = replace(deploy, channel=ref.channel, message_ts=ref.ts)
        ports.deploys.save(deploy)
        warning = f" Warning: {gate.sentence()}." if gate else ""
        if deploy.needs_approval:
            return f"Schema deploy #{deploy.id} to `{env}` awaits one `dba` and one `platform_lead` approval.{warning}"
        with ports.deploys.exclusive(env, wait_s=10) as held:
            if not held:  # another worker holds the environment (a resumed or approved deploy is applying)
                return f"Schema deploy #{deploy.id} to `{env}` is being applied; its card follows progress.{warning}"
            return self._applier.apply(deploy) + warning

    def approve(self, *, deploy_id: int, value_hash: str, actor: str) -> str:
        """The approve button of deploy ``deploy_id`` whose card showed the plan hash ``value_hash``."""
        ctx, ports = self._ctx, self._ctx.ports
        with ports.deploys.exclusive(ctx.load(deploy_id).env, wait_s=10) as held:
            if not held:
                raise UserError("Another zdm worker is busy with this deploy; try again in a minute.")
            deploy = ctx.load(deploy_id)
            if value_hash != deploy.plan_hash:
                raise StalePrompt(what=f"schema deploy #{deploy.id} was re-planned")
            current = self._planner.current_hash(deploy)
            if deploy.status is DeployStatus.AWAITING and current != deploy.plan_hash:
                deploy = void(
                    deploy,
                    why="a migration file changed after the request; approvals are void",
                    now=ports.clock.now(),
                )
                ports.deploys.save(deploy)
                ctx.refresh(deploy)
                ctx.audit(actor, "schema.deploy.void", deploy.env, "void", deploy_id=deploy.id, plan_hash=current)
            self._check_readiness(deploy, actor)
            roles = {r for r in APPROVER_ROLES if ports.roles.has_role(actor, r)}
            try:
                deploy = approve(deploy, user=actor, roles=roles, current_hash=current, now=ports.clock.now())
            except UserError as exc:
                ctx.audit(actor, "schema.deploy.approve", deploy.env, "refused", deploy_id=deploy.id, why=str(exc))
                raise
            role = deploy.approvals[-1].role
            acknowledged = {"acknowledged": list(deploy.reviews)} if deploy.reviews else {}
            ctx.audit(actor, "schema.deploy.approve", deploy.env, "ok", deploy_id=deploy.id, role=role, **acknowledged)
            ports.deploys.save(deploy)
            ctx.refresh(deploy)
            if not deploy.approved:
                return f"Approved as `{role}`; schema deploy #{deploy.id} still needs the other approval."
            return self._applier.apply(deploy)

    def cancel(self, *, deploy_id: int | None = None, env: str | None = None, actor: str) -> str:
        """Cancel deploy ``deploy_id`` (its cancel button), or the one awaiting approval on ``env``."""
        ctx, ports = self._ctx, self._ctx.ports
        deploy = ctx.load(deploy_id) if deploy_id is not None else ports.deploys.active(env or "")
        if deploy is None:
            raise UserError(f"`{printable(env or '')}` has no schema deploy awaiting approval.")
        ctx.require(actor, REQUESTERS, "cancel schema deploys", deploy.env, audit_action="schema.deploy.cancel")
        if deploy.status is not DeployStatus.AWAITING:
            raise StalePrompt(what=f"schema deploy #{deploy.id} is {deploy.status.value}")
        with ports.deploys.exclusive(deploy.env, wait_s=2) as held:  # short: this may run before Slack's ack
            if not held:
                raise UserError(f"Schema deploy #{deploy.id} is busy (being approved or applied); try again shortly.")
            deploy = ctx.load(deploy.id)
            if deploy.status is not DeployStatus.AWAITING:
                raise StalePrompt(what=f"schema deploy #{deploy.id} is {deploy.status.value}")
            deploy = void(deploy, why=f"cancelled by <@{actor}>", now=ports.clock.now())
            ports.deploys.save(deploy)
        ctx.refresh(deploy)
        ctx.audit(actor, "schema.deploy.cancel", deploy.env, "ok", deploy_id=deploy.id)
        return f"Schema deploy #{deploy.id} cancelled; nothing was applied."

    def _check_readiness(self, deploy: Deploy, actor: str) -> None:
        readiness = self._ctx.ports.readiness
        if readiness is None or deploy.status is not DeployStatus.AWAITING or deploy.break_glass:
            return
        ready = readiness.for_deploy(deploy.env, deploy.files, commit=deploy.commit)
        if not ready.ready:
            why = ready.sentence()
            self._ctx.audit(actor, "schema.deploy.approve", deploy.env, "blocked", deploy_id=deploy.id, why=why)
            self._ctx.refresh(deploy)
            raise RollbackNotReady(subject=f"schema deploy #{deploy.id}", readiness=ready)
