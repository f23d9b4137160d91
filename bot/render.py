"""Block Kit from chat-neutral ``Card``s (pure; no I/O).

Plain dictionaries, exactly as ``slack_sdk.models.blocks`` would serialise them (``tests/unit/test_render.py``
holds the two side by side): a card is rendered before the ack of every `/zdm rollout status`, and building and
validating the SDK's objects was a fifth of the `/zdm` listener's work before that ack.
"""

from __future__ import annotations

from typing import Any

from commands.cards import Button, Card, Checkboxes

SECTION_LIMIT = 3000
MAX_SECTIONS = 40  # of Slack's 50 blocks per message, leaving room for fields, buttons and a footer


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def card_blocks(card: Card, *, chart_file: str | None = None) -> list[dict[str, Any]]:
    """``chart_file``: the uploaded PNG of ``card.chart`` (a Slack file id), shown as an image block; without it
    the chart's numbers (its alt text) are shown as a context line, so nothing is lost."""
    blocks: list[dict[str, Any]] = [_section(_mrkdwn(_clip(f"*{card.title}*")))]
    for chunk in _chunks(card.lines):  # a section holds 3000 characters; long cards (help) take several
        blocks.append(_section(_mrkdwn(_clip(chunk))))
    if card.fields:
        blocks.append({"fields": [_mrkdwn(f"*{k}*\n{v}") for k, v in card.fields[:10]], "type": "section"})
    if card.code:
        blocks.append(_section(_mrkdwn(_clip(f"```{card.code}```"))))
    if card.checkboxes and card.checkboxes.options:
        blocks.append(_checkboxes(card.checkboxes))
    if card.chart is not None:
        alt = card.chart.alt
        if chart_file:
            title = _plain(card.chart.title[:2000])
            blocks.append({"alt_text": alt, "slack_file": {"id": chart_file}, "title": title, "type": "image"})
        else:
            blocks.append({"elements": [_mrkdwn(_clip(f"📈 {alt}"))], "type": "context"})
    if card.buttons:
        blocks.append({"elements": [_button(button) for button in card.buttons], "type": "actions"})
    if card.footer:
        blocks.append({"elements": [_mrkdwn(card.footer)], "type": "context"})
    return blocks


def _section(text: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "type": "section"}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"text": text, "type": "mrkdwn"} if text else {"type": "mrkdwn"}


def _plain(text: str, *, emoji: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {"emoji": True} if emoji else {}
    if text:
        shown["text"] = text
    shown["type"] = "plain_text"
    return shown


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {"action_id": button.action_id}
    if button.confirm:  # Slack's limits: title and buttons 30 characters, text 300
        element["confirm"] = {
            "title": _plain(_cut(button.confirm.title, 30), emoji=True),
            "text": _mrkdwn(_cut(button.confirm.text, 300)),
            "confirm": _plain(_cut(button.confirm.ok, 30), emoji=True),
            "deny": _plain(_cut(button.confirm.deny, 30), emoji=True),
        }
    if button.style:
        element["style"] = button.style
    element["text"] = _plain(button.label[:75], emoji=True)
    element["type"] = "button"
    if button.value:
        element["value"] = button.value
    return element


def _checkboxes(group: Checkboxes) -> dict[str, Any]:
    """Slack requires ``initial_options`` to repeat the checked options exactly, and omitted when none is."""
    options = []
    for o in group.options[:10]:
        option: dict[str, Any] = {"text": _mrkdwn(o.label[:150]), "value": o.value}
        if o.description:
            option["description"] = _plain(o.description[:75])
        options.append(option)
    checked = [option for option, o in zip(options, group.options, strict=False) if o.checked]
    element: dict[str, Any] = {"action_id": group.action_id}
    if checked:
        element["initial_options"] = checked
    element |= {"options": options, "type": "checkboxes"}
    return {"block_id": group.block_id[:255], "elements": [element], "type": "actions"}


def _chunks(lines: tuple[str, ...]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks[:MAX_SECTIONS]


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"
