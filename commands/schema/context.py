"""What every part of the schema stage shares: the configuration and ports, which environment and files a deploy is
about, its card in the release channel, and the role check and audit trail around each action."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from commands.authz import require_role
from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import StalePrompt, UsageError, UserError
from commands.live_cards import show_card, stored_ref
from commands.ports import AuditEvent
from commands.repository.ports import Snapshot
from commands.schema.history import MigrationFile, list_migrations
from commands.schema.model import Deploy, DeployStatus
from commands.schema.ports import SchemaPorts, SchemaTarget
from commands.schema.views import deploy_card
from commands.text import printable

log = logging.getLogger(__name__)


class SchemaContext:
    """``usage``: the command's usage sentence, appended when an environment name is wrong."""

    def __init__(self, *, config: RunbookConfig, ports: SchemaPorts, usage: str) -> None:
        self.config = config
        self.ports = ports
        self._usage = usage

    # --- environments and files -----------------------------------------------------------------------------

    def environment(self, env: str | None) -> str:
        """``env`` when it is a schema environment with a database; else a sentence saying what to do."""
        known = self.config.schema_stage.environments
        if env is None or env not in known:
            names = ", ".join(f"`{n}`" for n in known)
            said = f"`{printable(env)}` is not a schema environment" if env else "Name an environment"
            raise UsageError(f"{said}; zdm.toml has {names}. {self._usage}")
        if env not in self.ports.targets:
            var = known[env].database_url_env
            raise UserError(f"Schema environment `{env}` has no database: set {var} for zdm, then try again.")
        return env

    def target(self, env: str) -> SchemaTarget:
        return self.ports.targets[self.environment(env)]

    def snapshot(self, env: str, commit: str | None) -> Snapshot:
        """The files to read: exactly ``commit``'s, or the newest commit of the environment's ref (fetched)."""
        if self.ports.repository is None:
            return Snapshot(root=self.config.app.root, commit=None)
        if commit is not None:
            return self.ports.repository.at(commit)
        settings = self.config.schema_stage.environments[env]
        return self.ports.repository.checkout(settings.ref or self.config.app.ref)

    def folder(self, env: str, snapshot: Snapshot | None = None) -> Path:
        settings = self.config.schema_stage.environments[env]
        root = snapshot.root if snapshot is not None else self.config.app.root
        return root / (settings.migrations_dir or self.config.app.migrations_dir)

    def files(self, deploy: Deploy) -> list[MigrationFile]:
        """The approved files, read at the approved commit (even if the branch has moved on since)."""
        folder = self.folder(deploy.env, self.snapshot(deploy.env, deploy.commit))
        by_name = {m.file_name: m for m in list_migrations(folder)}
        return [by_name[name] for name in deploy.files if name in by_name]

    def release_ref(self, number: int | None) -> str | None:
        """ "owner/repo#N" of the release issue: ``number`` or the configured one (None: no GitHub configured)."""
        release = self.config.release
        issue = number or release.issue
        return f"{release.github_repo}#{issue}" if release.github_repo and issue else None

    # --- deploy records and their cards ---------------------------------------------------------------------

    def load(self, deploy_id: int) -> Deploy:
        deploy = self.ports.deploys.get(deploy_id)
        if deploy is None:
            raise StalePrompt(what=f"there is no schema deploy #{deploy_id}")
        return deploy

    def card(self, deploy: Deploy) -> Card:
        """The deploy card; while it awaits approval, with rollback readiness computed now."""
        waiting = deploy.status is DeployStatus.AWAITING and deploy.needs_approval
        ready = (
            self.ports.readiness.for_deploy(deploy.env, deploy.files, commit=deploy.commit)
            if self.ports.readiness and waiting
            else None
        )
        return deploy_card(deploy, readiness=ready)

    def refresh(self, deploy: Deploy) -> None:
        """Show ``deploy``'s card as it is now (posted again if its message is gone); never raises."""
        shown = stored_ref(deploy.channel, deploy.message_ts)
        if shown is None:
            return
        try:
            channel, card = self.config.channels.release, self.card(deploy)
            ref = show_card(
                self.ports.notifier, ref=shown, channel=channel, card=card, what=f"schema deploy #{deploy.id}"
            )
        except Exception:
            log.exception("could not update the card of schema deploy #%s", deploy.id)
            return
        if ref != shown:  # posted again: its buttons live on the new message
            current = self.ports.deploys.get(deploy.id) or deploy
            self.ports.deploys.save(replace(current, channel=ref.channel, message_ts=ref.ts))

    def relink_cards(self) -> int:
        """After a restart: refresh the card of each deploy awaiting approval or applying (re-posted if gone)."""
        active = [d for env in self.config.schema_stage.environments if (d := self.ports.deploys.active(env))]
        for deploy in active:
            self.refresh(deploy)
        return len(active)

    # --- who may, and what happened -------------------------------------------------------------------------

    def require(
        self, actor: str, roles: tuple[str, ...], action: str, env: str, *, audit_action: str = "schema.deploy.request"
    ) -> None:
        require_role(
            self.ports.roles,
            self.ports.audit,
            self.ports.clock,
            actor=actor,
            any_of=roles,
            action=action,
            audit_action=audit_action,
            subject=env,
        )

    def audit(self, actor: str, action: str, subject: str, outcome: str, **detail: object) -> None:
        self.ports.audit.record(AuditEvent(actor, action, subject, outcome, detail), at=self.ports.clock.now())
