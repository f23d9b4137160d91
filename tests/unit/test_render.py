"""Cards render to exactly the Block Kit that ``slack_sdk.models.blocks`` builds (the renderer writes plain
dictionaries for speed; the SDK's objects are the reference)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
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

from bot.render import _chunks, _clip, _cut, card_blocks
from commands.cards import Button, Card, Checkboxes, CheckOption, Confirm
from commands.charts import Chart


def sdk_blocks(card: Card, *, chart_file: str | None = None) -> list[dict[str, Any]]:
    """The same card through the SDK's block objects (the renderer as it was written first)."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_clip(f"*{card.title}*")))]
    for chunk in _chunks(card.lines):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(chunk))))
    if card.fields:
        blocks.append(SectionBlock(fields=[MarkdownTextObject(text=f"*{k}*\n{v}") for k, v in card.fields[:10]]))
    if card.code:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"```{card.code}```"))))
    if card.checkboxes and card.checkboxes.options:
        group = card.checkboxes
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
        blocks.append(ActionsBlock(block_id=group.block_id[:255], elements=[element]))
    if card.chart is not None:
        if chart_file:
            title = PlainTextObject(text=card.chart.title[:2000])
            blocks.append(ImageBlock(slack_file={"id": chart_file}, alt_text=card.chart.alt, title=title))
        else:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(f"📈 {card.chart.alt}"))]))
    if card.buttons:
        elements = []
        for button in card.buttons:
            confirm = None
            if button.confirm:
                confirm = ConfirmObject(
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


words = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
long_lines = st.lists(st.text(min_size=1, max_size=2500), max_size=6)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_:0123456789", min_size=1, max_size=60)
confirms = st.builds(Confirm, title=words, text=st.text(min_size=1, max_size=400), ok=words, deny=words)
buttons = st.builds(
    Button,
    action_id=ids,
    label=st.text(min_size=1, max_size=90),
    value=st.text(max_size=30),
    style=st.sampled_from([None, "primary", "danger"]),
    confirm=st.none() | confirms,
)
options = st.builds(CheckOption, value=ids, label=words, checked=st.booleans(), description=st.none() | words)
checkboxes = st.builds(Checkboxes, action_id=ids, block_id=ids, options=st.lists(options, max_size=12).map(tuple))
MORNING = datetime(2026, 12, 5, 9, tzinfo=UTC)
charts = st.builds(Chart, title=words, since=st.just(MORNING), until=st.just(MORNING), panels=st.just(()))
cards = st.builds(
    Card,
    title=words,
    lines=long_lines.map(tuple),
    fields=st.lists(st.tuples(words, words), max_size=12).map(tuple),
    buttons=st.lists(buttons, max_size=5).map(tuple),
    footer=st.none() | words,
    code=st.none() | words,
    checkboxes=st.none() | checkboxes,
    chart=st.none() | charts,
)


@settings(max_examples=150, deadline=None)
@given(card=cards, chart_file=st.none() | st.just("F0CHART"))
def test_every_card_renders_as_the_sdk_would(card: Card, chart_file: str | None) -> None:
    assert card_blocks(card, chart_file=chart_file) == sdk_blocks(card, chart_file=chart_file)


def test_a_rollout_card_keeps_its_buttons_and_confirmation() -> None:
    card = Card(
        title="Rollout #7",
        lines=("step 2 of 4",),
        buttons=(Button("rollout_approve", "Approve", "7:2", style="primary", confirm=Confirm("Sure?", "Flip it.")),),
    )
    blocks = card_blocks(card)
    assert blocks[-1] == {
        "elements": [
            {
                "action_id": "rollout_approve",
                "confirm": {
                    "title": {"emoji": True, "text": "Sure?", "type": "plain_text"},
                    "text": {"text": "Flip it.", "type": "mrkdwn"},
                    "confirm": {"emoji": True, "text": "Confirm", "type": "plain_text"},
                    "deny": {"emoji": True, "text": "Cancel", "type": "plain_text"},
                },
                "style": "primary",
                "text": {"emoji": True, "text": "Approve", "type": "plain_text"},
                "type": "button",
                "value": "7:2",
            }
        ],
        "type": "actions",
    }
