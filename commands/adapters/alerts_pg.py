"""Alert state, alert history and folded job failures in the bot's state database."""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter

from commands.adapters.locks import PgLocks
from commands.alerts.failures import failure_card
from commands.alerts.model import AlertEvent, AlertState
from commands.cards import MessageRef
from commands.ports import Clock, MessageGone, Notifier

log = logging.getLogger(__name__)
ALERTS_LOCK = (0x7A61, 1)  # one evaluator at a time across replicas
_STATE = TypeAdapter(AlertState)


class PgAlertStore:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def get(self, rule: str) -> AlertState | None:
        with self._pool.connection() as conn:
            row = conn.execute("select doc from zdm.alert_states where rule = %s", (rule,)).fetchone()
        return _STATE.validate_python(row[0]) if row else None

    def all(self) -> list[AlertState]:
        with self._pool.connection() as conn:
            rows = conn.execute("select doc from zdm.alert_states order by rule").fetchall()
        return [_STATE.validate_python(r[0]) for r in rows]

    def save(self, state: AlertState, *, event: AlertEvent | None = None) -> None:
        """Save the state, and append its event in the same transaction."""
        doc = _STATE.dump_python(state, mode="json")
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "insert into zdm.alert_states (rule, doc, updated_at) values (%s, %s, now())"
                " on conflict (rule) do update set doc = excluded.doc, updated_at = excluded.updated_at",
                (state.rule, Jsonb(doc)),
            )
            if event is not None:
                conn.execute(
                    "insert into zdm.alert_events (rule, kind, at, value, detail) values (%s, %s, %s, %s, %s)",
                    (event.rule, event.kind, event.at, event.value, Jsonb(event.detail)),
                )

    def recent(self, *, limit: int) -> list[AlertEvent]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select rule, kind, at, value, detail from zdm.alert_events order by at desc, id desc limit %s",
                (limit,),
            ).fetchall()
        return [AlertEvent(r[0], r[1], r[2], r[3], dict(r[4])) for r in rows]

    def exclusive(self) -> AbstractContextManager[bool]:
        return self._locks.hold(ALERTS_LOCK)


class FoldedJobFailures:
    """``JobFailures`` for the release channel: the same failure (what, where, error) within ``fold_for`` edits
    its first message ("seen 3 times, last at 10:42") instead of posting again. Shared by replicas: the failure's
    row is locked while its message is posted or edited."""

    def __init__(
        self, pool: ConnectionPool[Any], notifier: Notifier, clock: Clock, *, channel: str, fold_for: timedelta
    ) -> None:
        self._pool = pool
        self._notifier = notifier
        self._clock = clock
        self._channel = channel
        self._fold_for = fold_for

    def report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        """Best effort: a failure to tell the channel is logged and never breaks the work that failed."""
        try:
            self._report(what=what, where=where, error=error, next_command=next_command)
        except Exception:
            log.exception("could not post a job failure to %s: %s — %s", self._channel, what, error)

    def _report(self, *, what: str, where: str, error: str, next_command: str) -> None:
        key = hashlib.sha256(f"{what}\0{where}\0{error}".encode()).hexdigest()[:32]
        now = self._clock.now()
        card = failure_card(what=what, where=where, error=error, next_command=next_command)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("insert into zdm.job_failures (key) values (%s) on conflict do nothing", (key,))
            row = conn.execute(
                "select channel, ts, count, first_at, last_at from zdm.job_failures where key = %s for update", (key,)
            ).fetchone()
            assert row is not None
            channel, ts, count, first_at, last_at = row
            folded = ts is not None and last_at is not None and now - last_at <= self._fold_for
            if folded:
                count += 1
                try:
                    self._notifier.update(
                        MessageRef(channel, ts),
                        replace(
                            card, footer=f"Seen {count} times since {first_at:%Y-%m-%d %H:%M}; last at {now:%H:%M} UTC"
                        ),
                    )
                except MessageGone:
                    folded = False
            if not folded:
                ref = self._notifier.post(self._channel, card)
                channel, ts, count, first_at = ref.channel, ref.ts, 1, now
            conn.execute(
                "update zdm.job_failures set channel = %s, ts = %s, count = %s, first_at = %s, last_at = %s"
                " where key = %s",
                (channel, ts, count, first_at, now, key),
            )
