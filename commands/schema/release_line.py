"""An applied deploy's line in the release issue's "DB Changes" section: stored in the outbox when the deploy is
applied, and noted on the deploy card once the outbox delivers it (``commands.schema.release_delivery``)."""

from __future__ import annotations

from dataclasses import replace

from commands.outbox.model import OutboxEntry
from commands.schema.context import SchemaContext
from commands.schema.model import Deploy
from commands.schema.release_delivery import deploy_of, release_entry

RECORDED = "recorded; "  # the deploy note that says where the DB Changes line is


class ReleaseLine:
    def __init__(self, ctx: SchemaContext) -> None:
        self._ctx = ctx

    def record(self, deploy: Deploy) -> Deploy:
        """``deploy`` with a note saying where its line is (or why the release issue is not updated)."""
        release, ports = self._ctx.config.release, self._ctx.ports
        if deploy.release is None or ports.issues is None or ports.outbox is None:
            note = "release issue not updated: set release.github_repo and release.issue (or `--release N`)"
            return replace(deploy, notes=(*deploy.notes, note))
        approvals = ", ".join(f"{a.user} ({a.role})" for a in deploy.approvals) or "no approval required"
        line = (
            f"`{deploy.env}` {deploy.finished_at or ports.clock.now():%Y-%m-%d %H:%M} UTC: "
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
            now=ports.clock.now(),
        )
        return replace(deploy, notes=(*deploy.notes, ports.outbox.record(entry)))

    def delivered(self, entry: OutboxEntry) -> None:
        """``OutboxPorts.on_delivered``: the deploy card says where its DB Changes line is once it lands."""
        deploy_id = deploy_of(entry)
        deploys = self._ctx.ports.deploys
        deploy = deploys.get(deploy_id) if deploy_id is not None else None
        if deploy is None:
            return
        notes = tuple(f"recorded; {entry.state()}" if n.startswith(RECORDED) else n for n in deploy.notes)
        if notes == deploy.notes:
            return
        deploy = replace(deploy, notes=notes)
        deploys.save(deploy)
        self._ctx.refresh(deploy)
