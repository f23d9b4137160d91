"""``/zdm checklist <release>``, the checkbox clicks on its card, and the preflight the schema and rollout stages
call before they start something for a release whose checklist is incomplete."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch

from commands.cards import Card, MessageRef
from commands.checklist.args import parse_checklist_args
from commands.checklist.checks import check_checkout
from commands.checklist.model import Checklist, authorise_tick, changed_ticks, confirmations, named_release
from commands.checklist.ports import ChecklistTicks
from commands.checklist.views import checklist_card
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.ports import AuditEvent, AuditLog, Clock, Linter, Notifier, Preflight, RoleDirectory
from commands.repository.ports import Repository

Answer = tuple[str, Card | None, Callable[[], object] | None]


@dataclass(frozen=True)
class ChecklistPorts:
    clock: Clock
    ticks: ChecklistTicks
    linter: Linter
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    repository: Repository | None = None  # None: the checkout in app.root; else fetched, read at the ref's commit


class ChecklistService:
    def __init__(self, *, config: RunbookConfig, ports: ChecklistPorts) -> None:
        self._config = config
        self._p = ports

    def command(self, *, text: str, actor: str) -> Answer:
        release = parse_checklist_args(text)
        named_release(self._config.releases, release)
        channel = self._config.channels.release
        return (
            f"Checking the checkout for release `{release}`; the checklist card follows in {channel}.",
            None,
            lambda: self.post(release),
        )

    def evaluate(self, release: str) -> Checklist:
        spec = named_release(self._config.releases, release)
        settings = self._config.checklist
        root = self._config.app.root
        if self._p.repository is not None:  # fetch before every checklist: the release's files at the newest commit
            root = self._p.repository.checkout(self._config.app.ref).root
        facts = check_checkout(
            root=root,
            migrations_dir=self._config.app.migrations_dir,
            rollbacks_dir=self._config.app.rollbacks_dir,
            release=release,
            spec=spec,
            flag=spec.flag or self._config.flag.name,
            settings=settings,
            linter=self._p.linter,
        )
        ticks = self._p.ticks.latest(release)
        return Checklist(
            release=release,
            title=spec.title or release,
            checks=facts.checks,
            confirmations=confirmations(settings.confirm, ticks, high_volume=facts.high_volume),
        )

    def card(self, release: str) -> Card:
        return checklist_card(self.evaluate(release), enforce=self._config.checklist.enforce)

    def post(self, release: str) -> str:
        checklist = self.evaluate(release)
        self._p.notifier.post(self._config.channels.release, checklist_card(checklist, enforce=self._enforce))
        if checklist.complete:
            return f"The checklist of `{release}` is complete."
        return f"The checklist of `{release}` has {len(checklist.blockers)} open item(s): {checklist.blockers[0]}."

    def tick(
        self,
        *,
        release: str,
        selected: Collection[str],
        actor: str,
        message: MessageRef | None,
        clicked: Collection[str] | None = None,
    ) -> str:
        """A click on the card's checkboxes: record each changed item as ticked or unticked by ``actor``, who must
        hold one of its roles; the card is redrawn either way (a refused click is undone on screen too).
        ``clicked``: the options the click changed on the card as shown; only those are considered."""
        checklist = self.evaluate(release)
        changes = changed_ticks(checklist, selected, clicked=clicked)
        held = {role for item, _ in changes for role in item.roles if self._p.roles.has_role(actor, role)}
        now = self._p.clock.now()
        try:
            for item, _ in changes:
                try:
                    authorise_tick(item, actor=actor, roles=held)
                except UserError:
                    self._audit(actor, "checklist.tick", release, "refused", item=item.key)
                    raise
            for item, ticked in changes:
                self._p.ticks.record(release=release, item=item.key, ticked=ticked, actor=actor, at=now)
                self._audit(actor, "checklist.tick" if ticked else "checklist.untick", release, "ok", item=item.key)
        finally:
            if message is not None:
                self._p.notifier.update(message, self.card(release))
        if not changes:
            return f"Nothing changed on the checklist of `{release}`."
        done = "; ".join(f"{'ticked' if t else 'unticked'} “{i.text}”" for i, t in changes)
        return f"Recorded for `{release}`: {done}, by <@{actor}> at {now:%Y-%m-%d %H:%M} UTC."

    def preflight(self, *, migrations: Sequence[str] = (), flag: str | None = None) -> Preflight | None:
        for name, spec in self._config.releases.items():
            mine = any(fnmatch(f, glob) for f in migrations for glob in spec.migrations)
            if mine or (flag is not None and flag == (spec.flag or self._config.flag.name)):
                checklist = self.evaluate(name)
                if not checklist.complete:
                    return Preflight(name, checklist.blockers, refuse=self._enforce == "refuse")
        return None

    @property
    def _enforce(self) -> str:
        return self._config.checklist.enforce

    def _audit(self, actor: str, action: str, subject: str, outcome: str, **detail: object) -> None:
        self._p.audit.record(AuditEvent(actor, action, subject, outcome, detail), at=self._p.clock.now())
