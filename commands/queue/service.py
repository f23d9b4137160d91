"""``/zdm queue [env]``, ``/zdm queue cancel Q<n>``, and the scheduler job that starts the next item.

A stage asks for its ``turn`` before starting work on a database: with nothing active there it starts at once
(and the database is held until the work finishes); otherwise the request is a queued row, and the requester is
told "you are 2nd; starts when backfill #7 finishes". Every tick, ``advance`` finishes items whose work is over and
starts the head of each free database's line, under that database's lease, so one replica does it once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import UsageError, UserError
from commands.live_cards import show_card, stored_ref
from commands.ports import AuditEvent, AuditLog, Clock, Notifier, RoleDirectory
from commands.queue.args import parse_queue_args
from commands.queue.model import (
    ItemStatus,
    Kind,
    QueueItem,
    card_line,
    may_cancel,
    ordered,
    ordinal,
    waited,
    waiting_sentence,
)
from commands.queue.ports import QueueStore, Starter, Turn
from commands.text import printable

log = logging.getLogger(__name__)
TURN_WAIT_S = 2.0  # before Slack's ack: how long a request waits for a tick that is starting work on its database


@dataclass(frozen=True)
class QueuePorts:
    clock: Clock
    store: QueueStore
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog


class QueueService:
    def __init__(self, *, config: RunbookConfig, ports: QueuePorts, databases: Mapping[tuple[Kind, str], str]) -> None:
        """``databases``: which database each (kind, environment) works on (e.g. ``host:5432/app``)."""
        self._config = config
        self._p = ports
        self._databases = dict(databases)
        self._starters: dict[Kind, Starter] = {}

    def register(self, kind: Kind, starter: Starter) -> None:
        self._starters[kind] = starter

    # --- asking for a turn -------------------------------------------------------------------------------------

    @contextmanager
    def turn(self, *, kind: Kind, env: str, requester: str, args: str, defer: bool = False) -> Iterator[Turn]:
        """Queue the request, or (database free) let the caller start it inside the ``with`` block and set
        ``turn.ref`` to the work's id; an exception there takes the item out of the queue again. ``defer``: the
        caller starts nothing itself but calls ``start_now`` after Slack's ack (work too slow to start before)."""
        database = self._databases.get((kind, env))
        if database is None:  # not a queued environment (e.g. no database configured): the stage says why
            yield Turn(QueueItem(0, "", env, kind, requester, self._p.clock.now(), status=ItemStatus.RUNNING))
            return
        with self._p.store.exclusive(database, wait_s=TURN_WAIT_S) as held:
            if not held:
                raise UserError(f"zdm is starting queued work on `{env}`'s database right now; try again in a moment.")
            now = self._p.clock.now()
            self._settle(database, now)
            item = self._p.store.enqueue(QueueItem(0, database, env, kind, requester, now, args=args.strip()), now=now)
            turn = Turn(item)
            if turn.waiting:
                turn.sentence = waiting_sentence(self._p.store.active(database), item.id)
                self._audit(item, requester, "queue.wait", "queued", sentence=turn.sentence)
                yield turn
                return
            if defer:
                yield turn
                return
            try:
                yield turn
            except BaseException as exc:
                self._p.store.finish(item.id, status=ItemStatus.DONE, reason=f"not started: {exc}", now=now)
                raise
            if turn.ref is None:
                self._p.store.finish(item.id, status=ItemStatus.DONE, reason="nothing started", now=now)
            else:
                self._p.store.set_ref(item.id, turn.ref)

    def hold_for(self, *, kind: Kind, env: str, ref: int, requester: str) -> Turn:
        """The turn of work that exists already and asks again until it may go (a rollback's schema step, on
        every resume): its item, added on the first ask. ``turn.waiting`` until the scheduler starts it."""
        database = self._databases.get((kind, env))
        if database is None:
            return Turn(QueueItem(0, "", env, kind, requester, self._p.clock.now(), status=ItemStatus.RUNNING))
        with self._p.store.exclusive(database, wait_s=TURN_WAIT_S) as held:
            now = self._p.clock.now()
            item = self._p.store.find(kind, ref) if held else None
            if held and item is None:
                self._settle(database, now)
                item = self._p.store.enqueue(QueueItem(0, database, env, kind, requester, now, ref=ref), now=now)
                if item.status is ItemStatus.QUEUED:  # ahead of queued work: their cards move down
                    self._audit(item, requester, "queue.wait", "queued", ref=ref)
                    for other in self._p.store.active(database):
                        if other.status is ItemStatus.QUEUED and other.kind is not Kind.SCHEMA_ROLLBACK:
                            self._show(other)
        if item is None:
            waiting = QueueItem(0, database, env, kind, requester, now)
            return Turn(waiting, "zdm is starting other queued work on its database; it asks again at the next tick")
        if item.status is ItemStatus.RUNNING:
            return Turn(item)
        return Turn(item, waiting_sentence(self._p.store.active(database), item.id))

    def done_with(self, *, kind: Kind, ref: int) -> None:
        """The work of ``hold_for`` is over: the next item may start."""
        item = self._p.store.find(kind, ref)
        if item is not None:
            self._p.store.finish(item.id, status=ItemStatus.DONE, reason="finished", now=self._p.clock.now())

    def announce(self, item_id: int) -> None:
        """After the ack: the queued item's card in the release channel."""
        item = self._p.store.get(item_id)
        if item is not None:
            self._show(item)

    def start_now(self, item_id: int) -> str:
        """After the ack of a deferred ``turn``: start the item under its database's lease, unless a tick already
        did (then the work's card says how it went)."""
        item = self._p.store.get(item_id)
        starter = self._starters.get(item.kind) if item is not None else None
        if item is None or starter is None:
            return f"Queue item Q{item_id} is gone; nothing was started."
        started: list[tuple[Starter, int]] = []
        with self._p.store.exclusive(item.database, wait_s=TURN_WAIT_S * 15) as held:
            current = self._p.store.get(item_id) if held else None
            if current is None or current.status is not ItemStatus.RUNNING or current.ref is not None:
                return f"zdm's scheduler started Q{item_id}; its card in {self._config.channels.release} follows it."
            said, started = self._start(current, starter, self._p.clock.now())
        for each, ref in started:
            each.after_start(ref)
        return said

    # --- the scheduler -----------------------------------------------------------------------------------------

    def advance(self, now: datetime | None = None) -> int:
        """Finish items whose work is over and start the next item on every free database; returns how many
        started. Each database under its lease: two replicas ticking at once start nothing twice."""
        started: list[tuple[Starter, int]] = []
        databases = sorted({item.database for item in self._p.store.active()})
        for database in databases:
            with self._p.store.exclusive(database) as held:
                if held:
                    started += self._advance(database, now or self._p.clock.now())
        for starter, ref in started:
            try:
                starter.after_start(ref)
            except Exception:  # the work runs; its card is mended by the stage's own jobs
                log.exception("could not announce queued work %s", ref)
        for database in databases:
            for item in self._p.store.active(database):
                if item.status is ItemStatus.QUEUED:
                    self._show(item)
        return len(started)

    def _settle(self, database: str, now: datetime) -> None:
        """Finish the running item whose work is over (without waiting for the next tick)."""
        for item in self._p.store.active(database):
            starter = self._starters.get(item.kind)
            if (
                item.status is ItemStatus.RUNNING
                and starter is not None
                and item.ref is not None
                and not starter.still_active(item.ref)
            ):
                self._p.store.finish(item.id, status=ItemStatus.DONE, reason="finished", now=now)

    def _advance(self, database: str, now: datetime) -> list[tuple[Starter, int]]:
        started: list[tuple[Starter, int]] = []
        for item in self._p.store.active(database):
            starter = self._starters.get(item.kind)
            if item.status is not ItemStatus.RUNNING or starter is None:
                continue
            ref = item.ref if item.ref is not None else starter.find_started(item)
            if ref is None:  # a start interrupted before its work existed (or deferred): start it now
                started += self._start(item, starter, now)[1]
                continue
            if item.ref is None:
                self._p.store.set_ref(item.id, ref)
            if not starter.still_active(ref):
                self._p.store.finish(item.id, status=ItemStatus.DONE, reason="finished", now=now)
        claimed = self._p.store.claim_next(database, now=now)
        if claimed is not None:
            starter = self._starters.get(claimed.kind)
            if starter is not None:
                started += self._start(claimed, starter, now)[1]
        return started

    def _start(self, item: QueueItem, starter: Starter, now: datetime) -> tuple[str, list[tuple[Starter, int]]]:
        """Start the item's work (the caller holds its database's lease): what to tell the requester, and the
        work to announce once the lease is released."""
        try:
            ref, said = starter.start_queued(item)
            why = said or "nothing to start"
        except UserError as exc:
            ref, said, why = None, str(exc), f"not started: {exc}"
        if ref is None:
            self._p.store.finish(item.id, status=ItemStatus.DONE, reason=why, now=now)
            self._show(replace(item, status=ItemStatus.DONE, reason=why))
            return said, []
        self._p.store.set_ref(item.id, ref)
        item = replace(item, ref=ref, started_at=item.started_at or now, status=ItemStatus.RUNNING)
        self._audit(item, "zdm", "queue.start", "ok", ref=ref, waited=waited(item, now))
        self._show(item)
        return said, [(starter, ref)]

    # --- /zdm queue --------------------------------------------------------------------------------------------

    def command(self, *, text: str, actor: str) -> str:
        request = parse_queue_args(text)
        if request.item_id is not None:
            return self.cancel(request.item_id, actor=actor)
        return self.listing(request.env)

    def listing(self, env: str | None) -> str:
        """Every active item (of ``env``'s database) with its position, requester and wait."""
        databases = None
        if env is not None:
            databases = {db for (_, name), db in self._databases.items() if name == env}
            if not databases:
                known = ", ".join(f"`{n}`" for n in sorted({name for _, name in self._databases}))
                raise UsageError(f"`{printable(env)}` is not an environment zdm queues work for; use one of {known}.")
        items = [i for i in self._p.store.active() if databases is None or i.database in databases]
        where = f" on `{env}`'s database" if env else ""
        if not items:
            return f"Nothing is queued or running{where}."
        now, lines = self._p.clock.now(), [f"Work queue{where}:"]
        for database in sorted({i.database for i in items}):
            line = ordered([i for i in items if i.database == database])
            for place, item in enumerate(line, start=1):
                state = "running" if item.status is ItemStatus.RUNNING else f"waiting {waited(item, now)}"
                what = f"Q{item.id} {item.kind.value}" + (f" #{item.ref}" if item.ref is not None else "")
                lines.append(f"{ordinal(place)}. {what} on `{item.env}` by <@{item.requester}>: {state}")
        return "\n".join(lines)

    def cancel(self, item_id: int, *, actor: str) -> str:
        item = self._p.store.get(item_id)
        if item is None or not item.status.active:
            raise UserError(f"There is no queued item Q{item_id}; `/zdm queue` lists them.")
        lead = self._p.roles.has_role(actor, "platform_lead")
        if item.status is ItemStatus.RUNNING:
            raise UserError(f"Q{item_id} already started as {item.label}; stop it with that command's own cancel.")
        if item.kind is Kind.SCHEMA_ROLLBACK and item.ref is not None:
            raise UserError(f"Q{item_id} is the schema step of rollback #{item.ref}; skip it on the rollback's card.")
        if not may_cancel(item, actor=actor, platform_lead=lead):
            self._audit(item, actor, "queue.cancel", "refused")
            raise UserError(f"Only <@{item.requester}> or a `platform_lead` may cancel Q{item_id}.")
        now, why = self._p.clock.now(), f"cancelled by <@{actor}>"
        if not self._p.store.finish(item_id, status=ItemStatus.CANCELLED, reason=why, now=now, only_queued=True):
            raise UserError(f"Q{item_id} started meanwhile; stop it with that command's own cancel.")
        self._audit(item, actor, "queue.cancel", "ok")
        self._show(replace(item, status=ItemStatus.CANCELLED, reason=why))
        for other in self._p.store.active(item.database):
            if other.status is ItemStatus.QUEUED:
                self._show(other)
        return f"Q{item_id} ({item.kind.value} on `{item.env}`) cancelled; nothing was started."

    # --- helpers -----------------------------------------------------------------------------------------------

    def _card(self, item: QueueItem) -> Card:
        what = f"{item.kind.value.capitalize()} on `{item.env}` requested by <@{item.requester}>"
        if item.status is ItemStatus.QUEUED:
            line = card_line(self._p.store.active(item.database), item.id)
            return Card(
                title=f"⏳ Q{item.id}: {what} — {line}",
                lines=(f"`/zdm queue cancel Q{item.id}` cancels it (the requester or a `platform_lead`).",),
            )
        if item.status is ItemStatus.RUNNING:
            return Card(title=f"▶️ Q{item.id}: {what} — started as {item.label}")
        icon = "✖️" if item.status is ItemStatus.CANCELLED else "⏭"
        return Card(title=f"{icon} Q{item.id}: {what} — {item.reason or item.status.value}")

    def _show(self, item: QueueItem) -> None:
        shown = stored_ref(item.channel, item.message_ts)
        if shown is None and item.status is not ItemStatus.QUEUED:
            return  # started at once: the work's own card says it all
        try:
            ref = show_card(
                self._p.notifier, ref=shown, channel=self._config.channels.release, card=self._card(item),
                what=f"queue item Q{item.id}",
            )  # fmt: skip
        except Exception:
            log.exception("could not show the card of queue item Q%s", item.id)
            return
        if ref != shown:
            self._p.store.set_message(item.id, channel=ref.channel, ts=ref.ts)

    def _audit(self, item: QueueItem, actor: str, action: str, outcome: str, **detail: object) -> None:
        event = AuditEvent(actor, action, item.env, outcome, {"item": item.id, "kind": item.kind.value, **detail})
        self._p.audit.record(event, at=self._p.clock.now())
