"""What the work queue looks like to people: a queue item's ``#release`` card and the ``/zdm queue`` listing
(pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from commands.cards import Card
from commands.queue.model import ItemStatus, QueueItem, ordered, ordinal, waited


def queue_card(item: QueueItem, *, line: str) -> Card:
    """The item's card; ``line`` is where a queued item stands (``card_line``), unused once it started or ended."""
    what = f"{item.kind.value.capitalize()} on `{item.env}` requested by <@{item.requester}>"
    if item.status is ItemStatus.QUEUED:
        return Card(
            title=f"⏳ Q{item.id}: {what} — {line}",
            lines=(f"`/zdm queue cancel Q{item.id}` cancels it (the requester or a `platform_lead`).",),
        )
    if item.status is ItemStatus.RUNNING:
        return Card(title=f"▶️ Q{item.id}: {what} — started as {item.label}")
    icon = "✖️" if item.status is ItemStatus.CANCELLED else "⏭"
    return Card(title=f"{icon} Q{item.id}: {what} — {item.reason or item.status.value}")


def queue_listing(items: Sequence[QueueItem], *, env: str | None, now: datetime) -> str:
    """Every active item (of ``env``'s database) with its position, requester and wait."""
    where = f" on `{env}`'s database" if env else ""
    if not items:
        return f"Nothing is queued or running{where}."
    lines = [f"Work queue{where}:"]
    for database in sorted({i.database for i in items}):
        line = ordered([i for i in items if i.database == database])
        for place, item in enumerate(line, start=1):
            state = "running" if item.status is ItemStatus.RUNNING else f"waiting {waited(item, now)}"
            what = f"Q{item.id} {item.kind.value}" + (f" #{item.ref}" if item.ref is not None else "")
            lines.append(f"{ordinal(place)}. {what} on `{item.env}` by <@{item.requester}>: {state}")
    return "\n".join(lines)
