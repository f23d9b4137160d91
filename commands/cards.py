"""A chat-neutral message model.

Services describe what to show as a ``Card``; the Slack layer (``bot.render``) turns it into Block Kit and the
shell prints the same structure. Keeping this neutral is what lets ``commands`` stay free of Slack imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from commands.charts import Chart


@dataclass(frozen=True)
class Confirm:
    title: str
    text: str
    ok: str = "Confirm"
    deny: str = "Cancel"


@dataclass(frozen=True)
class Button:
    action_id: str
    label: str
    value: str
    style: Literal["primary", "danger"] | None = None
    confirm: Confirm | None = None


@dataclass(frozen=True)
class CheckOption:
    value: str
    label: str  # mrkdwn
    checked: bool
    description: str | None = None  # plain text under the label


@dataclass(frozen=True)
class Checkboxes:
    """A group of checkboxes; a click reports every option checked after it, with ``block_id`` (which names the
    subject, since an empty selection carries no option value)."""

    action_id: str
    block_id: str
    options: tuple[CheckOption, ...]


@dataclass(frozen=True)
class Card:
    """Title line, body lines (Slack mrkdwn), optional key/value fields, checkboxes, a chart, buttons and a footer."""

    title: str
    lines: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str | None = None
    code: str | None = None
    checkboxes: Checkboxes | None = None
    chart: Chart | None = None  # shown as an image above the buttons; its alt text states the numbers

    @property
    def fallback_text(self) -> str:
        """Plain text used for notifications and clients that cannot show blocks."""
        return self.title


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message lives, so it can be updated in place later."""

    channel: str
    ts: str


def mention(actor: str) -> str:
    """``<@U123>`` for a Slack user id; zdm itself (an alert, the scheduler) is named as it is."""
    return f"<@{actor}>" if re.fullmatch(r"[UW][A-Z0-9]{1,30}", actor) else actor
