"""``/zdm notes <release>`` and ``/zdm archive <release> | verify <release>`` (runbook §7)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from commands.alerts.model import format_metric
from commands.breakglass.notes import break_glass_uses
from commands.cards import Card
from commands.checklist.checks import release_migrations
from commands.checklist.model import named_release
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.outbox.model import OutboxEntry, entry_marker
from commands.outbox.service import OutboxService
from commands.ports import AuditEvent, AuditLog, Clock, ReleaseFacts
from commands.records.archive import build_archive, verify_archive
from commands.records.args import ARCHIVE_ARGS, NOTES_ARGS
from commands.records.notes import Recorded, notes_lines, upsert_block
from commands.repository.ports import Repository

Answer = tuple[str, Card | None, Callable[[], object] | None]


@dataclass(frozen=True)
class RecordsPorts:
    clock: Clock
    facts: ReleaseFacts
    audit: AuditLog
    outbox: OutboxService | None = None  # notes recorded first, then delivered (local folder or pull request)
    repository: Repository | None = None  # None: app.root; else the release's migrations at app.ref's newest commit


class RecordsService:
    def __init__(self, *, config: RunbookConfig, ports: RecordsPorts) -> None:
        self._config = config
        self._p = ports

    def notes_command(self, *, text: str, actor: str) -> Answer:
        release = self._known(NOTES_ARGS.parse(text))
        return f"Drafting the notes of `{release}`…", None, lambda: self.write_notes(release, actor=actor)

    def archive_command(self, *, text: str, actor: str) -> Answer:
        request = ARCHIVE_ARGS.parse(text)
        release = self._known(request.release)
        if request.verify:
            return self.verify(release), None, None
        return f"Archiving `{release}`…", None, lambda: self.archive(release, actor=actor)

    def recorded(self, release: str) -> Recorded:
        spec = self._config.releases[release]
        flag = spec.flag or self._config.flag.name
        folder = self._config.migrations_path
        if self._p.repository is not None:
            folder = self._p.repository.checkout(self._config.app.ref).root / self._config.app.migrations_dir
        files = [m.file_name for m in release_migrations(folder, spec)]
        rollout = self._p.facts.rollout_for(flag)
        rules = {rule.name: rule for rule in self._config.alerts.rules}
        alerts = [
            f"`{e.rule}` {e.kind} {e.at:%Y-%m-%d %H:%M} UTC"
            + (f" at {format_metric(rules[e.rule], e.value)}" if e.rule in rules else "")
            for e in self._p.facts.alert_events(since=rollout.started_at if rollout else None)
        ]
        return Recorded(
            release=release,
            title=spec.title or release,
            flag=flag,
            deploys=self._p.facts.schema_deploys(files),
            backfills=self._p.facts.backfill_runs(spec.backfill_job) if spec.backfill_job else [],
            rollout=rollout,
            rollbacks=self._p.facts.rollbacks(flag),
            alerts=alerts,
            break_glass=break_glass_uses(
                self._p.facts.audit_rows(
                    subjects=[release, flag, spec.schema_env, *([spec.backfill_job] if spec.backfill_job else [])],
                    since=None,
                )
            ),
        )

    def write_notes(self, release: str, *, actor: str) -> str:
        now = self._p.clock.now()
        block = notes_lines(self.recorded(release), now=now)
        root = self._config.app.root
        targets = ((self._config.notes.changelog, "Unreleased"), (self._config.checklist.rfc, None))
        written, pending = [], []
        for relative, heading in targets:
            use = heading if heading is not None else self._config.notes.rfc_heading
            if self._p.outbox is not None:
                state = self._p.outbox.record(
                    OutboxEntry(
                        marker=entry_marker("entry", str(uuid.uuid4())),
                        path=relative.as_posix(),
                        title=f"release notes of {release} in {relative.as_posix()}",
                        text="\n".join(block),
                        created_at=now,
                        block=release,
                        heading=use,
                        next_attempt_at=now,
                    )
                )
                if not state.startswith("recorded; written to"):
                    pending.append(f"`{relative}`: {state}")
            else:
                path = root / relative
                before = path.read_text(encoding="utf-8") if path.is_file() else ""
                after = upsert_block(before, release=release, block=block, heading=use)
                if after != before:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(after, encoding="utf-8")
            written.append(f"`{relative}`")
        self._audit(actor, "notes.write", release, "ok", files=[str(t[0]) for t in targets])
        said = f"Drafted the notes of `{release}` in {' and '.join(written)} (a marked block; review and commit it)."
        return said + (f" {'; '.join(pending)}." if pending else "")

    def archive(self, release: str, *, actor: str) -> str:
        spec = self._config.releases[release]
        flag = spec.flag or self._config.flag.name
        tenants = sorted({rb.tenant for rb in self._p.facts.rollbacks(flag)})
        rows = self._p.facts.audit_rows(subjects=[release, flag, spec.schema_env, *tenants], since=None)
        target, files = build_archive(
            root=self._config.app.root,
            folder=self._config.archive.folder,
            release=release,
            reports=self._config.archive.reports,
            audit=rows,
            now=self._p.clock.now(),
        )
        self._audit(actor, "archive.write", release, "ok", files=len(files))
        shown = target.relative_to(self._config.app.root)
        return f"Archived {len(files)} file(s) for `{release}` in `{shown}` with `manifest.json` (sha256)."

    def verify(self, release: str) -> str:
        target = self._config.app.root / self._config.archive.folder / release
        problems = verify_archive(target)
        if problems:
            raise UserError(f"The archive of `{release}` does not verify: {'; '.join(problems[:3])}.")
        return f"The archive of `{release}` verifies: every file matches its sha256 in `manifest.json`."

    def _known(self, name: str) -> str:
        named_release(self._config.releases, name)
        return name

    def _audit(self, actor: str, action: str, subject: str, outcome: str, **detail: object) -> None:
        self._p.audit.record(AuditEvent(actor, action, subject, outcome, detail), at=self._p.clock.now())
