"""Break-glass: ``--break-glass "<reason>"`` on a gated action, confirmed by a second person on a card.

Asking computes which gates the action would skip and posts a card in the release channel; nothing else happens.
A person holding ``break_glass.role`` (default ``platform_lead``), never the one who asked, confirms it on the card;
the confirmation claims the record once (two clicks at once: one wins), then the action runs for the person who
asked with those gates skipped, ``#release`` gets a 🔓 line and the audit log a ``breakglass.used`` row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from commands.breakglass.model import USED, BreakGlass, BreakGlassStatus, cancelled, confirmed, finished
from commands.breakglass.ports import BreakGlassRepository, GatedAction
from commands.breakglass.views import announcement, break_glass_card
from commands.cards import Card, MessageRef
from commands.config import RunbookConfig
from commands.errors import StalePrompt, UserError
from commands.ports import AuditEvent, AuditLog, Clock, Notifier, RoleDirectory

log = logging.getLogger(__name__)

Answer = tuple[str, Card | None, Callable[[], object] | None]


@dataclass(frozen=True)
class BreakGlassPorts:
    clock: Clock
    repo: BreakGlassRepository
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog


class BreakGlassService:
    def __init__(
        self, *, config: RunbookConfig, ports: BreakGlassPorts, actions: Mapping[str, GatedAction] | None = None
    ) -> None:
        self._config = config
        self._p = ports
        self._actions = dict(actions or {})

    def register(self, action: str, gated: GatedAction) -> None:
        self._actions[action] = gated

    def request(self, *, action: str, text: str, reason: str, actor: str) -> Answer:
        """Before the ack: check the action and which gates it skips, record the request, post its card."""
        gated = self._actions.get(action)
        if gated is None:
            raise UserError(f"`--break-glass` is not available for {action}.")
        skip = gated.break_glass_skip(text=text, actor=actor)
        role = self._config.break_glass.role
        request = self._p.repo.create(
            BreakGlass(
                id=0,
                action=action,
                skip=skip,
                reason=reason,
                requested_by=actor,
                requested_at=self._p.clock.now(),
                role=role,
            )
        )
        self._audit(request, actor, "breakglass.requested", "ok")
        ref = self._p.notifier.post(self._config.channels.release, break_glass_card(request))
        self._p.repo.save(replace(request, channel=ref.channel, message_ts=ref.ts))
        where = self._config.channels.release
        return (
            f"Break-glass #{request.id} asked: a `{role}` other than you must confirm it on its card in {where}; "
            "nothing happens until then.",
            None,
            None,
        )

    def confirm(self, *, value: str, actor: str) -> str:
        """The Confirm button: a second person with the role; then the action runs with its gates skipped."""
        request = self._load(value)
        now = self._p.clock.now()
        try:
            decided = confirmed(request, user=actor, holds_role=self._p.roles.has_role(actor, request.role), now=now)
        except UserError as exc:
            self._audit(request, actor, "breakglass.confirm", "refused", why=str(exc))
            raise
        with self._p.repo.exclusive(request.id) as mine:  # held while the action runs: a crash releases it
            if not mine or not self._p.repo.claim(decided, expected=BreakGlassStatus.AWAITING):
                raise StalePrompt(what=f"break-glass #{request.id} was already confirmed or cancelled")
            return self._run(decided, actor)

    def _run(self, decided: BreakGlass, actor: str) -> str:
        self._refresh(decided)
        gated = self._actions[decided.action]
        try:
            outcome = gated.break_glass_run(
                target=decided.skip.target, actor=decided.requested_by, confirmed_by=actor, reason=decided.reason
            )
        except UserError as exc:
            done = finished(decided, ok=False, outcome=str(exc))
            self._p.repo.save(done)
            self._audit(done, actor, USED, "failed", why=str(exc))
            self._refresh(done)
            return f"Break-glass #{done.id} was confirmed, but the action did not run: {exc}"
        done = finished(decided, ok=True, outcome=outcome)
        self._p.repo.save(done)
        self._audit(done, actor, USED, "ok")
        self._refresh(done)
        self._announce(done)
        return f"Confirmed break-glass #{done.id}: {outcome}"

    def settle_interrupted(self) -> int:
        """Scheduler: a confirmed request whose action no process is running was interrupted (a crash or restart
        mid-action). It is not run again (it may have half happened): it is marked failed, said on its card and
        audited, so nobody believes it is still running. Returns how many it settled."""
        settled = 0
        for request in self._p.repo.confirmed():
            with self._p.repo.exclusive(request.id) as mine:
                current = self._p.repo.get(request.id) if mine else None
                if current is None or current.status is not BreakGlassStatus.CONFIRMED:
                    continue
                outcome = (
                    "zdm stopped while running it (a restart or crash); check the action's own card or status "
                    "before asking again"
                )
                done = finished(current, ok=False, outcome=outcome)
                self._p.repo.save(done)
                self._audit(done, "zdm", USED, "interrupted", why=outcome)
                self._refresh(done)
                settled += 1
        return settled

    def cancel(self, *, value: str, actor: str) -> str:
        request = self._load(value)
        holds = self._p.roles.has_role(actor, request.role)
        decided = cancelled(request, user=actor, holds_role=holds, now=self._p.clock.now())
        if not self._p.repo.claim(decided, expected=BreakGlassStatus.AWAITING):
            raise StalePrompt(what=f"break-glass #{request.id} was already confirmed or cancelled")
        self._audit(decided, actor, "breakglass.cancel", "ok")
        self._refresh(decided)
        return f"Break-glass #{decided.id} cancelled; nothing was done."

    # --- helpers -----------------------------------------------------------------------------------------------

    def _load(self, value: str) -> BreakGlass:
        if not value.isdigit():
            raise StalePrompt(what="the button does not name a break-glass request")
        request = self._p.repo.get(int(value))
        if request is None:
            raise StalePrompt(what=f"there is no break-glass #{value}")
        return request

    def _audit(self, request: BreakGlass, actor: str, action: str, outcome: str, **extra: object) -> None:
        detail = {
            "break_glass_id": request.id,
            "action": request.action,
            "what": request.skip.what,
            "gates": list(request.skip.gates),
            "reason": request.reason,
            "requested_by": request.requested_by,
            "confirmed_by": request.confirmed_by,
            **extra,
        }
        self._p.audit.record(AuditEvent(actor, action, request.skip.subject, outcome, detail), at=self._p.clock.now())

    def _refresh(self, request: BreakGlass) -> None:
        if request.channel and request.message_ts:
            try:
                self._p.notifier.update(MessageRef(request.channel, request.message_ts), break_glass_card(request))
            except Exception:
                log.exception("could not update the card of break-glass #%s", request.id)

    def _announce(self, request: BreakGlass) -> None:
        try:
            self._p.notifier.post(self._config.channels.release, Card(title=announcement(request)))
        except Exception:  # the audit row is the record; the announcement is best effort
            log.exception("could not announce break-glass #%s", request.id)
