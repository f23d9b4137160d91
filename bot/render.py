"""Block Kit from chat-neutral ``Card``s (pure; no I/O)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    ImageBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from commands.cards import Card, Checkboxes

SECTION_LIMIT = 3000
MAX_SECTIONS = 40  # of Slack's 50 blocks per message, leaving room for fields, buttons and a footer


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def card_blocks(card: Card, *, chart_file: str | None = None) -> list[dict[str, Any]]:
    """``chart_file``: the uploaded PNG of ``card.chart`` (a Slack file id), shown as an image block; without it
    the chart's numbers (its alt text) are shown as a context line, so nothing is lost."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_clip(f"*{card.title}*")))]
    for chunk in _chunks(card.lines):  # a section holds 3000 characters; long cards (help) take several
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(chunk))))
    if card.fields:
        blocks.append(SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in card.fields[:10]]))
    if card.code:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"```{card.code}```"))))
    if card.checkboxes and card.checkboxes.options:
        blocks.append(_checkboxes(card.checkboxes))
    if card.chart is not None:
        alt = card.chart.alt
        if chart_file:
            title = PlainTextObject(text=card.chart.title[:2000])
            blocks.append(ImageBlock(slack_file={"id": chart_file}, alt_text=alt, title=title))
        else:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(f"📈 {alt}"))]))
    if card.buttons:
        elements = []
        for button in card.buttons:
            confirm = None
            if button.confirm:
                confirm = ConfirmObject(  # Slack's limits: title and buttons 30 characters, text 300
                    title=_cut(button.confirm.title, 30),
                    text=_cut(button.confirm.text, 300),
                    confirm=_cut(button.confirm.ok, 30),
                    deny=_cut(button.confirm.deny, 30),
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


def _checkboxes(group: Checkboxes) -> ActionsBlock:
    """Slack requires ``initial_options`` to repeat the checked options exactly, and omitted when none is."""
    options = [
        Option(
            value=o.value,
            text=MarkdownTextObject(text=o.label[:150]),
            description=PlainTextObject(text=o.description[:75]) if o.description else None,
        )
        for o in group.options[:10]
    ]
    checked = [option for option, o in zip(options, group.options, strict=False) if o.checked]
    element = CheckboxesElement(action_id=group.action_id, options=options, initial_options=checked or None)
    return ActionsBlock(block_id=group.block_id[:255], elements=[element])


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
