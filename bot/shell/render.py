"""Block Kit as terminal text: sections, fields and context as lines; buttons and checkbox options numbered for
``press N`` and ``tick N``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.local.emulator import Message

Register = Callable[[Message | None, dict[str, Any]], int]  # an element shown on a message -> its number


def render_blocks(
    blocks: list[dict[str, Any]],
    register: Register,
    message: Message | None,
) -> list[str]:
    """Block Kit as terminal text; buttons get numbers that ``press N`` uses."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            if block.get("text"):
                lines.extend(block["text"].get("text", "").splitlines())
            for item in block.get("fields", []):
                lines.append("  " + item.get("text", "").replace("\n", ": ", 1))
        elif kind == "context":
            lines.append("  " + " · ".join(e.get("text", "") for e in block.get("elements", [])))
        elif kind == "actions":
            buttons = [e for e in block["elements"] if e.get("type") != "checkboxes"]
            for box in (e for e in block["elements"] if e.get("type") == "checkboxes"):
                lines += _checkbox_lines(block, box, register, message)
            if buttons:
                shown = [f"[{register(message, e)}] {e.get('text', {}).get('text', '')}" for e in buttons]
                lines.append("  " + "   ".join(shown))
    return lines


def _checkbox_lines(
    block: dict[str, Any],
    box: dict[str, Any],
    register: Register,
    message: Message | None,
) -> list[str]:
    """One line per option: ``[N] ☑ label — description``; ``tick N`` toggles it."""
    checked = list(box.get("initial_options") or [])
    values = {o.get("value") for o in checked}
    lines = []
    for option in box.get("options", []):
        entry = {
            "action_id": box.get("action_id", ""),
            "value": option.get("value", ""),
            "text": option.get("text", {}),
            "block_id": block.get("block_id", ""),
            "checked": checked,
        }
        mark = "☑" if option.get("value") in values else "☐"
        note = option.get("description", {}).get("text")
        label = option.get("text", {}).get("text", "")
        lines.append(f"  [{register(message, entry)}] {mark} {label}" + (f" — {note}" if note else ""))
    return lines
