"""The Confirm / Cancel buttons on a break-glass card (the request itself is an option of each gated command)."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.guard import AfterAck
from commands.breakglass.service import BreakGlassService
from commands.breakglass.views import CANCEL_ACTION, CONFIRM_ACTION


def register(app: App, breakglass: BreakGlassService, after_ack: AfterAck) -> None:
    after_ack.button(app, CONFIRM_ACTION, breakglass.confirm)
    after_ack.button(app, CANCEL_ACTION, breakglass.cancel)
