"""The buttons and checkbox options the shell has shown, numbered once per message (``press N``, ``tick N``),
and a checkbox card as the user saw it (Slack sends the message as the client showed it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from bot.local.emulator import Message


@dataclass(frozen=True)
class ShownButton:
    channel: str
    message_ts: str
    action_id: str
    value: str
    label: str
    confirm: dict[str, Any] | None
    block_id: str = ""
    checked: tuple[dict[str, Any], ...] | None = None  # a checkbox: the options checked on the card as shown


class ButtonBoard:
    """Numbers for what was shown: the same button on the same message keeps its number when the card is redrawn."""

    def __init__(self) -> None:
        self.shown: dict[int, ShownButton] = {}
        self._numbers: dict[tuple[str, str, str, str], int] = {}
        self._lock = threading.Lock()

    def get(self, number: int) -> ShownButton | None:
        with self._lock:
            return self.shown.get(number)

    def register(self, message: Message | None, element: dict[str, Any]) -> int:
        channel, ts = (message.channel, message.ts) if message else ("C0SHELL", "0")
        key = (channel, ts, str(element.get("action_id", "")), str(element.get("value", "")))
        with self._lock:
            if key in self._numbers:
                number = self._numbers[key]
                if "checked" in element:  # the card was redrawn: remember what is checked now
                    shown = self.shown[number]
                    self.shown[number] = replace(shown, checked=tuple(element["checked"]))
                return number
            number = self._numbers[key] = len(self.shown) + 1
            self.shown[number] = ShownButton(
                channel=channel,
                message_ts=ts,
                action_id=element.get("action_id", ""),
                value=element.get("value", ""),
                label=element.get("text", {}).get("text", ""),
                confirm=element.get("confirm"),
                block_id=str(element.get("block_id", "")),
                checked=tuple(element["checked"]) if "checked" in element else None,
            )
        return number


def toggled(box: ShownButton, messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The options checked once ``box``'s option is ticked or unticked on the card as shown."""
    assert box.checked is not None
    values = [o.get("value") for o in box.checked]
    if box.value in values:
        return [o for o in box.checked if o.get("value") != box.value]
    option = next(o for o in _options(box, messages) if o.get("value") == box.value)
    return [*box.checked, option]


def blocks_as_shown(box: ShownButton, messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The card's blocks as this shell showed them (Slack sends the message as the client saw it)."""
    for message in messages:
        if message.channel == box.channel and message.ts == box.message_ts:
            blocks = json.loads(json.dumps(message.blocks))
            for block in blocks:
                for element in block.get("elements", []):
                    if element.get("action_id") == box.action_id:
                        element["initial_options"] = list(box.checked or ())
            return list(blocks)
    return []


def _options(box: ShownButton, messages: Iterable[Message]) -> list[dict[str, Any]]:
    for message in messages:
        if message.channel == box.channel and message.ts == box.message_ts:
            for block in message.blocks:
                for element in block.get("elements", []):
                    if element.get("action_id") == box.action_id:
                        return list(element.get("options", []))
    return []
