"""Block Kit from chat-neutral ``Card``s (pure; no I/O)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from commands.cards import Card

SECTION_LIMIT = 3000


def card_blocks(card: Card) -> list[dict[str, Any]]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_clip(f"*{card.title}*")))]
    if card.lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(card.lines)))))
    if card.fields:
        blocks.append(SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in card.fields[:10]]))
    if card.code:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"```{card.code}```"))))
    if card.buttons:
        elements = []
        for button in card.buttons:
            confirm = None
            if button.confirm:
                confirm = ConfirmObject(
                    title=button.confirm.title,
                    text=button.confirm.text,
                    confirm=button.confirm.ok,
                    deny=button.confirm.deny,
                )
            elements.append(
                ButtonElement(
                    text=button.label[:75],
                    action_id=button.action_id,
                    value=button.value,
                    style=button.style,
                    confirm=confirm,
                )
            )
        blocks.append(ActionsBlock(elements=elements))
    if card.footer:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=card.footer)]))
    return [block.to_dict() for block in blocks]


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"
