"""Durable first, delivered second: ``/zdm log`` and the outbox job.

An entry is stored in the state database the moment it is decided (the source of truth), then delivered to the
repository — the local folder in the demo, or commits on a branch collected by one pull request. Delivery is tried
once at once and then by the scheduler with backoff; a forge outage delays delivery and loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from commands.errors import UsageError
from commands.outbox.args import LOG_ARGS
from commands.outbox.model import OutboxEntry, title_of
from commands.outbox.ports import Destination, OutboxStore
from commands.ports import Clock
from commands.text import printable

log = logging.getLogger(__name__)
BATCH = 20
DEFAULT_SHOWN = 10
MAX_SHOWN = 50


@dataclass(frozen=True)
class OutboxPorts:
    clock: Clock
    store: OutboxStore
    destination: Destination
    on_delivered: Callable[[OutboxEntry], None] | None = None  # e.g. update the rollback card


class OutboxService:
    def __init__(self, *, ports: OutboxPorts) -> None:
        self._p = ports

    def record(self, entry: OutboxEntry) -> str:
        """Store ``entry``, try to deliver it at once, and say in one phrase where it is."""
        if not self._p.store.add(entry):
            existing = self._p.store.get(entry.marker)
            return f"already recorded; {existing.state() if existing else 'delivery pending'}"
        self._p.store.deliver(self._p.clock.now(), self._p.destination.deliver, marker=entry.marker, limit=1)
        stored = self._p.store.get(entry.marker)
        return f"recorded; {stored.state() if stored else 'delivery pending'}"

    def deliver_due(self, now: datetime) -> datetime | None:
        """The scheduler's job: deliver what is due; return when the next retry is due."""
        for entry in self._p.store.deliver(now, self._p.destination.deliver, limit=BATCH):
            if entry.delivered_at is not None and self._p.on_delivered is not None:
                try:
                    self._p.on_delivered(entry)
                except Exception:  # the entry is delivered; a stale card is only cosmetic
                    log.exception("could not report the delivery of %s", entry.marker)
            elif entry.delivered_at is None:
                log.warning("outbox: %s not delivered yet (%s)", entry.short_id, entry.last_error)
        return self._p.store.next_due()

    def log_command(self, text: str) -> str:
        """``/zdm log [count | <id>]``: what zdm recorded, newest first, and where each entry is."""
        request = LOG_ARGS.parse(text)
        if request.entry is not None:
            found = self._p.store.find(request.entry.lower())
            if len(found) != 1:
                shown = printable(request.entry, limit=20)
                raise UsageError(f"No single log entry has an id starting with `{shown}`; see `/zdm log`.")
            entry = found[0]
            return (
                f"*{entry.title}* (`{entry.short_id}`, `{entry.path}`, {entry.state()})\n```\n{entry.text.strip()}\n```"
            )
        count = min(request.count, MAX_SHOWN) if request.count is not None else DEFAULT_SHOWN
        entries = self._p.store.recent(limit=max(count, 1))
        if not entries:
            return f"Nothing recorded yet (entries are delivered to {self._p.destination.describe()})."
        lines = [f"Recorded by zdm, newest first (delivered to {self._p.destination.describe()}):"]
        lines += [_line(e) for e in entries]
        return "\n".join(lines)


def _line(entry: OutboxEntry) -> str:
    when = "" if entry.title[:1].isdigit() else f"{entry.created_at:%Y-%m-%d %H:%M} UTC — "  # titles often start so
    state = entry.state()
    where = "" if f"`{entry.path}`" in state else f" (`{entry.path}`)"
    return f"• `{entry.short_id}` {when}{entry.title} — {state}{where}"


class OutboxLog:
    """The rollback log (``RollbackLogFile`` port) through the outbox: recorded at once, delivered after."""

    def __init__(self, outbox: OutboxService, *, path: str, clock: Clock) -> None:
        self._outbox = outbox
        self._path = path
        self._clock = clock

    def append(self, *, marker: str, text: str, subject: str | None = None) -> str:
        now = self._clock.now()
        entry = OutboxEntry(
            marker=marker,
            path=self._path,
            title=title_of(text, fallback="rollback-log entry"),
            text=text,
            created_at=now,
            subject=subject,
            next_attempt_at=now,
        )
        return self._outbox.record(entry)
