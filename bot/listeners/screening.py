"""The first look at every command text and button value: what zdm cannot read is refused with one sentence, and
the refusal is audited like any other (a stranger's command with a NUL byte leaves a refusal row too)."""

from __future__ import annotations

import logging
from typing import Any

from commands.errors import StalePrompt, UsageError
from commands.ports import AuditEvent, AuditLog, Clock
from commands.text import MAX_BUTTON_VALUE_CHARS, printable, unreadable

log = logging.getLogger(__name__)


class InputScreen:
    def __init__(self, audit: AuditLog, clock: Clock) -> None:
        self._audit = audit
        self._clock = clock

    def command(self, text: object, *, actor: str, ref: str | None) -> str:
        """The command's text, or ``UsageError`` (audited) when it has characters no command takes."""
        if not isinstance(text, str):
            text = ""
        why = unreadable(text)
        if why is None:
            return text
        first = text.split(maxsplit=1)[0] if text.split() else ""
        self._refused(actor=actor, action="zdm.command", subject=first, why=why, ref=ref)
        raise UsageError(f"zdm cannot read this command: {why}. Nothing was changed; type it again without it.")

    def button(self, body: dict[str, Any], *, ref: str | None) -> tuple[str, str]:
        """(value, user id) of the button clicked, or ``StalePrompt`` (audited) when the value is not what zdm
        put on its buttons: not text, too long, or holding control characters."""
        actor = _actor(body)
        actions = body.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        value = action.get("value", "")
        why = "it is not text" if not isinstance(value, str) else unreadable(value, limit=MAX_BUTTON_VALUE_CHARS)
        if why is None:
            return value, actor
        subject = str(action.get("action_id") or "button")
        self._refused(actor=actor, action="zdm.button", subject=subject, why=f"the value: {why}", ref=ref)
        raise StalePrompt(what="the button does not carry a value zdm wrote")

    def text(self, value: object, *, actor: str, what: str, ref: str | None, limit: int) -> str:
        """Free text typed in a dialog (e.g. a denial's reason), or ``UsageError`` (audited)."""
        text = value if isinstance(value, str) else ""
        why = unreadable(text, limit=limit)
        if why is None:
            return text
        self._refused(actor=actor, action="zdm.dialog", subject=what, why=why, ref=ref)
        raise UsageError(f"zdm cannot read the {what}: {why}. Nothing was changed.")

    def _refused(self, *, actor: str, action: str, subject: str, why: str, ref: str | None) -> None:
        event = AuditEvent(
            printable(actor, limit=64), action, printable(subject, limit=64), "refused", {"reason": why}, ref
        )
        self._audit.record(event, at=self._clock.now())


def _actor(body: dict[str, Any]) -> str:
    user = body.get("user")
    found = user.get("id") if isinstance(user, dict) else None
    return found if isinstance(found, str) else ""
