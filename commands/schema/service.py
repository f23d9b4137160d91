"""Schema stage (runbook §2): ``/zdm schema plan|deploy|status|cancel``, the approval buttons, the release record.

Checks that need no database run before Slack's ack (role, environment, a deploy already in flight); linting,
the scratch-database bootstrap and applying run after it. Every deploy is applied under a per-environment lock
shared by all replicas, and applying skips versions already in the history, so a retry never applies twice.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from commands.authz import require_role
from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import StalePrompt, UsageError, UserError
from commands.live_cards import show_card, stored_ref
from commands.outbox.model import OutboxEntry
from commands.outbox.service import OutboxService
from commands.ports import (
    AuditEvent,
    AuditLog,
    Clock,
    CommandRunner,
    IssueTracker,
    JobFailures,
    Linter,
    Notifier,
    ReleaseGate,
    RoleDirectory,
)
from commands.queue.model import Kind
from commands.queue.ports import WorkQueue
from commands.readiness.model import RollbackNotReady
from commands.readiness.ports import ReadinessCheck
from commands.repository.ports import Repository, Snapshot
from commands.schema.args import SCHEMA_ARGS, SchemaRequest, parse_schema_args
from commands.schema.history import MigrationFile, list_migrations
from commands.schema.layout import layout_findings, rollback_pairs
from commands.schema.lint import additive_findings
from commands.schema.model import (
    APPROVER_ROLES,
    Deploy,
    DeployStatus,
    MigrationFailed,
    Plan,
    approve,
    out_of_order,
    plan_hash,
    void,
)
from commands.schema.ports import SchemaDeploys, SchemaTarget
from commands.schema.prelude import platform_prelude
from commands.schema.release_delivery import deploy_of, release_entry
from commands.schema.views import deploy_card, plan_card
from commands.text import printable, whole_number

log = logging.getLogger(__name__)
REQUESTERS = ("dba", "platform_lead", "release_approvers")
RECORDED = "recorded; "  # the deploy note that says where the DB Changes line is

Answer = tuple[str, Card | None, Callable[[], object] | None]


@dataclass(frozen=True)
class SchemaPorts:
    clock: Clock
    targets: Mapping[str, SchemaTarget]  # per environment that has a database
    deploys: SchemaDeploys
    linter: Linter
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    failures: JobFailures
    runner: CommandRunner
    issues: IssueTracker | None  # None: no GitHub configured, the release record is skipped with a note
    checklist: ReleaseGate | None = None  # warns (or refuses) while a release's pre-migration checklist is open
    repository: Repository | None = None  # None: the files in app.root (no commit)
    readiness: ReadinessCheck | None = None  # rollback readiness on the deploy card; a failed check blocks approval
    queue: WorkQueue | None = None  # one schema deploy, backfill or schema rollback per database at a time
    outbox: OutboxService | None = None  # the release issue's DB Changes line: stored first, delivered by the outbox


class SchemaService:
    def __init__(self, *, config: RunbookConfig, ports: SchemaPorts) -> None:
        self._config = config
        self._p = ports

    # --- /zdm schema -------------------------------------------------------------------------------------------

    def command(self, *, text: str, actor: str) -> Answer:
        request = parse_schema_args(text)
        if request.action == "status":
            return self._status(request)
        env = self._environment(request.env)
        if request.action == "plan":
            return (
                f"Planning `{env}`: lint, clean bootstrap from zero, pending vs applied. The card follows "
                "in the release channel.",
                None,
                lambda: self.post_plan(env, include_all=request.include_all),
            )
        if request.action == "cancel":
            return self.cancel(env=env, actor=actor), None, None
        self._require(actor, REQUESTERS, "request schema deploys", env)
        if (queue := self._p.queue) is not None:  # one piece of work per database at a time: now or in line
            with queue.turn(kind=Kind.SCHEMA_DEPLOY, env=env, requester=actor, args=text, defer=True) as turn:
                item = turn.item.id
                if turn.waiting:
                    said = f"Schema deploy to `{env}` is queued as Q{item}: {turn.sentence}."
                    return said, None, lambda: queue.announce(item)
            if item:
                return (
                    f"Checking `{env}` before asking for approval (lint, clean bootstrap). The deploy card follows in "
                    "the release channel.",
                    None,
                    lambda: queue.start_now(item),
                )
        if (active := self._p.deploys.active(env)) is not None:
            raise UserError(
                f"`{env}` already has schema deploy #{active.id} {active.status.value}; approve or cancel it first."
            )
        return (
            f"Checking `{env}` before asking for approval (lint, clean bootstrap). The deploy card follows in the "
            "release channel.",
            None,
            lambda: self.request_deploy(env, actor=actor, include_all=request.include_all, release=request.release),
        )

    def plan(self, env: str, *, include_all: bool = False) -> Plan:
        """Pending vs applied, lint of the pending files (and of the folder's layout), and the clean bootstrap."""
        base, files = self._pending(env, include_all=include_all)
        snapshot = self._snapshot(env, base.commit)
        folder = self._folder(env, snapshot)
        findings = layout_findings(folder, rollbacks_dir=self._config.app.rollbacks_dir)
        findings += [f for m in base.pending for f in additive_findings(m)] + self._p.linter.lint(base.pending)
        if not self._config.schema_stage.environments[env].approvals:  # nobody to acknowledge dynamic SQL
            findings = [replace(f, blocking=True) if f.review else f for f in findings]
        stage = self._config.schema_stage
        seed = folder.parent / "seed.sql" if stage.bootstrap_seed else None
        pairs = rollback_pairs(
            [m.version for m in base.pending],
            rollbacks=snapshot.root / self._config.app.rollbacks_dir,
            migrations=folder,
        )
        bootstrap = self._target(env).bootstrap(
            files,
            seed=seed,
            lock_timeout_ms=stage.lock_timeout_ms,
            prelude=platform_prelude(stage, root=self._config.app.root),
            rollbacks=pairs,
        )
        return replace(base, findings=tuple(findings), bootstrap=bootstrap)

    def _pending(self, env: str, *, include_all: bool, commit: str | None = None) -> tuple[Plan, list[MigrationFile]]:
        """Which files are pending (no lint, no bootstrap), and every forward file — at ``commit``, or at the newest
        commit of the environment's ref (fetched now)."""
        snapshot = self._snapshot(env, commit)
        files = list_migrations(self._folder(env, snapshot))
        applied = self._target(env).applied()
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

    def post_plan(self, env: str, *, include_all: bool = False) -> str:
        plan = self.plan(env, include_all=include_all)
        self._p.notifier.post(self._config.channels.release, plan_card(plan))
        if problems := self._report_problems(plan, f"Schema plan for `{env}`", f"`/zdm schema plan {env}` again"):
            return f"The plan for `{env}` cannot be deployed: {problems[0]}."
        if not plan.to_apply:
            return f"`{env}` is up to date: nothing to deploy."
        return f"The plan for `{env}` is ready: {len(plan.to_apply)} file(s), plan hash `{plan.plan_hash}`."

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
        plan = self.plan(env, include_all=include_all)
        then = f"`/zdm schema deploy {env}` again (`/zdm schema plan {env}` lists every finding)"
        if problems := self._report_problems(plan, f"Schema deploy to `{env}`", then):
            return f"Nothing was deployed to `{env}`: {problems[0]}."
        if not plan.to_apply:
            return f"`{env}` is up to date: nothing to deploy."
        names = [m.file_name for m in plan.to_apply]
        gate = self._p.checklist.preflight(migrations=names) if self._p.checklist else None
        if gate is not None and gate.refuse and break_glass is None:
            self._audit(actor, "schema.deploy.request", env, "refused", release=gate.release, why="checklist")
            return f"Nothing was deployed to `{env}`: {gate.sentence()}."
        now = self._p.clock.now()
        settings = self._config.schema_stage.environments[env]
        deploy = self._p.deploys.create(
            Deploy(
                id=0,
                env=env,
                plan_hash=plan.plan_hash,
                files=tuple(m.file_name for m in plan.to_apply),
                requester=actor,
                requested_at=now,
                needs_approval=settings.approvals,
                include_all=include_all,
                release=self._release_ref(release),
                notes=(
                    *((f"⚠️ requested while {gate.sentence()}",) if gate else ()),
                    *((f"🔓 break-glass: {break_glass}",) if break_glass else ()),
                ),
                reviews=plan.reviews,
                commit=plan.commit,
                break_glass=break_glass,
            )
        )
        self._audit(actor, "schema.deploy.request", env, "ok", deploy_id=deploy.id, plan_hash=deploy.plan_hash)
        ref = self._p.notifier.post(self._config.channels.release, self._card(deploy))
        deploy = replace(deploy, channel=ref.channel, message_ts=ref.ts)
        self._p.deploys.save(deploy)
        warning = f" Warning: {gate.sentence()}." if gate else ""
        if deploy.needs_approval:
            return f"Schema deploy #{deploy.id} to `{env}` awaits one `dba` and one `platform_lead` approval.{warning}"
        with self._p.deploys.exclusive(env, wait_s=10) as held:
            if not held:  # another worker holds the environment (a resumed or approved deploy is applying)
                return f"Schema deploy #{deploy.id} to `{env}` is being applied; its card follows progress.{warning}"
            return self._apply(deploy) + warning

    def _report_problems(self, plan: Plan, what: str, then: str) -> list[str]:
        """Post the plan's problems to the release channel as a job failure; return them."""
        problems = plan.problems()
        if problems:
            self._p.failures.report(
                what=what, where=_where(plan), error="; ".join(problems), next_command=f"fix the migration, then {then}"
            )
        return problems

    # --- buttons -----------------------------------------------------------------------------------------------

    def approve(self, *, value: str, actor: str) -> str:
        deploy_id, value_hash = _parse_value(value)
        with self._p.deploys.exclusive(self._env_of(deploy_id), wait_s=10) as held:
            if not held:
                raise UserError("Another zdm worker is busy with this deploy; try again in a minute.")
            deploy = self._load(deploy_id)
            if value_hash != deploy.plan_hash:
                raise StalePrompt(what=f"schema deploy #{deploy.id} was re-planned")
            current = self._current_hash(deploy)
            if deploy.status is DeployStatus.AWAITING and current != deploy.plan_hash:
                deploy = void(
                    deploy,
                    why="a migration file changed after the request; approvals are void",
                    now=self._p.clock.now(),
                )
                self._p.deploys.save(deploy)
                self._refresh(deploy)
                self._audit(actor, "schema.deploy.void", deploy.env, "void", deploy_id=deploy.id, plan_hash=current)
            self._check_readiness(deploy, actor)
            roles = {r for r in APPROVER_ROLES if self._p.roles.has_role(actor, r)}
            try:
                deploy = approve(deploy, user=actor, roles=roles, current_hash=current, now=self._p.clock.now())
            except UserError as exc:
                self._audit(actor, "schema.deploy.approve", deploy.env, "refused", deploy_id=deploy.id, why=str(exc))
                raise
            role = deploy.approvals[-1].role
            acknowledged = {"acknowledged": list(deploy.reviews)} if deploy.reviews else {}
            self._audit(
                actor, "schema.deploy.approve", deploy.env, "ok", deploy_id=deploy.id, role=role, **acknowledged
            )
            self._p.deploys.save(deploy)
            self._refresh(deploy)
            if not deploy.approved:
                return f"Approved as `{role}`; schema deploy #{deploy.id} still needs the other approval."
            return self._apply(deploy)

    def cancel(self, *, value: str | None = None, env: str | None = None, actor: str) -> str:
        deploy = self._load(_parse_value(value)[0]) if value else self._p.deploys.active(env or "")
        if deploy is None:
            raise UserError(f"`{printable(env or '')}` has no schema deploy awaiting approval.")
        self._require(actor, REQUESTERS, "cancel schema deploys", deploy.env, audit_action="schema.deploy.cancel")
        if deploy.status is not DeployStatus.AWAITING:
            raise StalePrompt(what=f"schema deploy #{deploy.id} is {deploy.status.value}")
        with self._p.deploys.exclusive(deploy.env, wait_s=2) as held:  # short: this may run before Slack's ack
            if not held:
                raise UserError(f"Schema deploy #{deploy.id} is busy (being approved or applied); try again shortly.")
            deploy = self._load(deploy.id)
            if deploy.status is not DeployStatus.AWAITING:
                raise StalePrompt(what=f"schema deploy #{deploy.id} is {deploy.status.value}")
            deploy = void(deploy, why=f"cancelled by <@{actor}>", now=self._p.clock.now())
            self._p.deploys.save(deploy)
        self._refresh(deploy)
        self._audit(actor, "schema.deploy.cancel", deploy.env, "ok", deploy_id=deploy.id)
        return f"Schema deploy #{deploy.id} cancelled; nothing was applied."

    # --- applying ----------------------------------------------------------------------------------------------

    def resume_unfinished(self) -> None:
        """Finish deploys left "applying" by a crash (scheduler); versions already in the history are skipped."""
        for stuck in self._p.deploys.applying():
            with self._p.deploys.exclusive(stuck.env) as held:
                deploy = self._p.deploys.get(stuck.id) if held else None
                if deploy is not None and deploy.status is DeployStatus.APPLYING:
                    log.info("resuming schema deploy #%s to %s after a restart", deploy.id, deploy.env)
                    self._apply(replace(deploy, notes=(*deploy.notes, "resumed after a zdm restart")))

    def _apply(self, deploy: Deploy) -> str:
        """Apply an approved deploy (caller holds the environment lock), then record it in the release issue."""
        deploy = replace(deploy, status=DeployStatus.APPLYING)
        self._p.deploys.save(deploy)
        self._refresh(deploy)
        files = self._files(deploy)
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
            now = self._p.clock.now()
            deploy = replace(
                deploy,
                status=DeployStatus.FAILED,
                applied=tuple(exc.applied),
                error=f"`{exc.file}`: {exc.error}",
                finished_at=now,
            )
            self._p.deploys.save(deploy)
            self._refresh(deploy)
            self._audit("zdm", "schema.deploy.apply", deploy.env, "failed", deploy_id=deploy.id, file=exc.file)
            self._p.failures.report(
                what=f"Schema deploy #{deploy.id} to `{deploy.env}`",
                where=f"`{exc.file}` (rolled back; the history is unchanged for it)",
                error=exc.error,
                next_command=f"fix the file, then `/zdm schema plan {deploy.env}` and deploy again",
            )
            return f"Schema deploy #{deploy.id} failed at `{exc.file}`: {exc.error}. Nothing of that file was applied."
        applied = [m.version for m in files]  # all its files, including those a run before a restart applied
        deploy = replace(deploy, status=DeployStatus.APPLIED, applied=tuple(applied), finished_at=self._p.clock.now())
        self._audit("zdm", "schema.deploy.apply", deploy.env, "ok", deploy_id=deploy.id, versions=list(applied))
        deploy = self._record_release(deploy)
        self._p.deploys.save(deploy)
        self._refresh(deploy)
        return f"Schema deploy #{deploy.id} to `{deploy.env}` applied: {', '.join(f'`{v}`' for v in applied)}."

    def _run_migrations(self, env: str, files: list[MigrationFile]) -> list[str]:
        settings, target = self._config.schema_stage.environments[env], self._target(env)
        if settings.mode == "native":
            return target.apply(files, lock_timeout_ms=self._config.schema_stage.lock_timeout_ms)
        if strays := layout_findings(self._folder(env), rollbacks_dir=self._config.app.rollbacks_dir):
            # the push would run these too: a rollback forward undoes its migration
            raise MigrationFailed(file=strays[0].file, error=f"not pushed: {strays[0].message}", applied=[])
        before = set(target.applied())
        result = self._p.runner.run(settings.push_argv, timeout_s=settings.push_timeout_s, cwd=self._config.app.root)
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

    def _record_release(self, deploy: Deploy) -> Deploy:
        release = self._config.release
        if deploy.release is None or self._p.issues is None or self._p.outbox is None:
            note = "release issue not updated: set release.github_repo and release.issue (or `--release N`)"
            return replace(deploy, notes=(*deploy.notes, note))
        approvals = ", ".join(f"{a.user} ({a.role})" for a in deploy.approvals) or "no approval required"
        line = (
            f"`{deploy.env}` {deploy.finished_at or self._p.clock.now():%Y-%m-%d %H:%M} UTC: "
            + (", ".join(f"`{v}`" for v in deploy.applied) or "nothing new")
            + f" — approved by {approvals}; requested by {deploy.requester} (zdm schema deploy #{deploy.id})"
        )
        # durable first (the state database's outbox), delivered second: a GitHub outage delays the line only
        entry = release_entry(
            release=deploy.release,
            section=release.section,
            deploy_id=deploy.id,
            env=deploy.env,
            line=line,
            now=self._p.clock.now(),
        )
        return replace(deploy, notes=(*deploy.notes, self._p.outbox.record(entry)))

    def release_record_delivered(self, entry: OutboxEntry) -> None:
        """``OutboxPorts.on_delivered``: the deploy card says where its DB Changes line is once it lands."""
        deploy_id = deploy_of(entry)
        deploy = self._p.deploys.get(deploy_id) if deploy_id is not None else None
        if deploy is None:
            return
        notes = tuple(f"recorded; {entry.state()}" if n.startswith(RECORDED) else n for n in deploy.notes)
        if notes == deploy.notes:
            return
        deploy = replace(deploy, notes=notes)
        self._p.deploys.save(deploy)
        self._refresh(deploy)

    # --- helpers -----------------------------------------------------------------------------------------------

    def _status(self, request: SchemaRequest) -> Answer:
        if request.deploy_id is not None:
            card = self._card(self._load(request.deploy_id))
            return card.title, card, None
        deploys = self._p.deploys.recent(limit=5, env=request.env)
        if not deploys:
            return "No schema deploys yet. Start with `/zdm schema plan <env>`.", None, None
        lines = [deploy_card(d).title for d in deploys]
        return "\n".join(lines), None, None

    def _environment(self, env: str | None) -> str:
        known = self._config.schema_stage.environments
        if env is None or env not in known:
            names = ", ".join(f"`{n}`" for n in known)
            said = f"`{printable(env)}` is not a schema environment" if env else "Name an environment"
            raise UsageError(f"{said}; zdm.toml has {names}. {SCHEMA_ARGS.use()}")
        if env not in self._p.targets:
            var = known[env].database_url_env
            raise UserError(f"Schema environment `{env}` has no database: set {var} for zdm, then try again.")
        return env

    def _target(self, env: str) -> SchemaTarget:
        return self._p.targets[self._environment(env)]

    def _snapshot(self, env: str, commit: str | None) -> Snapshot:
        """The files to read: exactly ``commit``'s, or the newest commit of the environment's ref (fetched)."""
        if self._p.repository is None:
            return Snapshot(root=self._config.app.root, commit=None)
        if commit is not None:
            return self._p.repository.at(commit)
        settings = self._config.schema_stage.environments[env]
        return self._p.repository.checkout(settings.ref or self._config.app.ref)

    def _folder(self, env: str, snapshot: Snapshot | None = None) -> Path:
        settings = self._config.schema_stage.environments[env]
        root = snapshot.root if snapshot is not None else self._config.app.root
        return root / (settings.migrations_dir or self._config.app.migrations_dir)

    def _files(self, deploy: Deploy) -> list[MigrationFile]:
        """The approved files, read at the approved commit (even if the branch has moved on since)."""
        folder = self._folder(deploy.env, self._snapshot(deploy.env, deploy.commit))
        by_name = {m.file_name: m for m in list_migrations(folder)}
        return [by_name[name] for name in deploy.files if name in by_name]

    def _current_hash(self, deploy: Deploy) -> str:
        """The hash of what would be applied now (only which files and their bytes: no lint, no bootstrap), at the
        deploy's commit: a newer commit on the branch is a new plan, not a change to this one."""
        return self._pending(deploy.env, include_all=deploy.include_all, commit=deploy.commit)[0].plan_hash

    def deploy(self, deploy_id: int) -> Deploy | None:
        return self._p.deploys.get(deploy_id)

    def recent_deploys(self, *, env: str, limit: int) -> list[Deploy]:
        return self._p.deploys.recent(limit=limit, env=env)

    def _load(self, deploy_id: int) -> Deploy:
        deploy = self._p.deploys.get(deploy_id)
        if deploy is None:
            raise StalePrompt(what=f"there is no schema deploy #{deploy_id}")
        return deploy

    def _env_of(self, deploy_id: int) -> str:
        return self._load(deploy_id).env

    def _refresh(self, deploy: Deploy) -> None:
        shown = stored_ref(deploy.channel, deploy.message_ts)
        if shown is None:
            return
        try:
            channel, card = self._config.channels.release, self._card(deploy)
            ref = show_card(self._p.notifier, ref=shown, channel=channel, card=card, what=f"schema deploy #{deploy.id}")
        except Exception:
            log.exception("could not update the card of schema deploy #%s", deploy.id)
            return
        if ref != shown:  # posted again: its buttons live on the new message
            current = self._p.deploys.get(deploy.id) or deploy
            self._p.deploys.save(replace(current, channel=ref.channel, message_ts=ref.ts))

    def relink_cards(self) -> int:
        """After a restart: refresh the card of each deploy awaiting approval or applying (re-posted if gone)."""
        active = [d for env in self._config.schema_stage.environments if (d := self._p.deploys.active(env))]
        for deploy in active:
            self._refresh(deploy)
        return len(active)

    def _card(self, deploy: Deploy) -> Card:
        """The deploy card; while it awaits approval, with rollback readiness computed now."""
        waiting = deploy.status is DeployStatus.AWAITING and deploy.needs_approval
        ready = (
            self._p.readiness.for_deploy(deploy.env, deploy.files, commit=deploy.commit)
            if self._p.readiness and waiting
            else None
        )
        return deploy_card(deploy, readiness=ready)

    def _check_readiness(self, deploy: Deploy, actor: str) -> None:
        if self._p.readiness is None or deploy.status is not DeployStatus.AWAITING or deploy.break_glass:
            return
        ready = self._p.readiness.for_deploy(deploy.env, deploy.files, commit=deploy.commit)
        if not ready.ready:
            why = ready.sentence()
            self._audit(actor, "schema.deploy.approve", deploy.env, "blocked", deploy_id=deploy.id, why=why)
            self._refresh(deploy)
            raise RollbackNotReady(subject=f"schema deploy #{deploy.id}", readiness=ready)

    def _release_ref(self, number: int | None) -> str | None:
        release = self._config.release
        issue = number or release.issue
        return f"{release.github_repo}#{issue}" if release.github_repo and issue else None

    def _require(
        self, actor: str, roles: tuple[str, ...], action: str, env: str, *, audit_action: str = "schema.deploy.request"
    ) -> None:
        require_role(
            self._p.roles,
            self._p.audit,
            self._p.clock,
            actor=actor,
            any_of=roles,
            action=action,
            audit_action=audit_action,
            subject=env,
        )

    def _audit(self, actor: str, action: str, subject: str, outcome: str, **detail: object) -> None:
        self._p.audit.record(AuditEvent(actor, action, subject, outcome, detail), at=self._p.clock.now())


def _parse_value(value: str | None) -> tuple[int, str]:
    text, _, digest = (value or "").partition(":")
    deploy_id = whole_number(text)
    if deploy_id is None:
        raise StalePrompt(what="the button does not name a schema deploy")
    return deploy_id, digest


def _where(plan: Plan) -> str:
    if plan.blocking:
        return f"`{plan.blocking[0].where}`"
    if plan.bootstrap is not None and not plan.bootstrap.ok:
        return f"`{plan.bootstrap.file}` (clean bootstrap in {plan.bootstrap.where})"
    return f"`{plan.env}`"
