"""Rollout records in the bot's state database (``zdm.rollouts``, ``zdm.rollout_includes``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from commands.adapters.exposure_pg import HELD_MANY_SQL, HELD_SQL
from commands.adapters.locks import PgLocks, reading
from commands.errors import RolloutActive
from commands.rollout.config import GatesConfig, PlanStep
from commands.rollout.model import Rollout, RolloutStatus, StepState, StepStatus
from commands.rollout.watch_batch import GatesChecked, StoredRollout

ROLLOUT_LOCK_CLASS = 0x7A65
ACTIVE = ("running", "paused")

# The rollout asked for, or else every active one and the newest, each with its flag's held-out tenants (HELD_SQL
# for the rollout's flag, as a {tenant: rollback id} object).
_WITH_HELD_SQL = (
    "select p.id, p.doc, h.held from zdm.rollouts p left join lateral ("
    " select jsonb_object_agg(x.tenant, x.id) as held from (select distinct on (r.tenant) r.tenant, r.id"
    "  from zdm.rollbacks r where r.flag = p.flag and (r.finished_at is null or not exists (select 1"
    "  from zdm.rollout_includes i where i.flag = r.flag and i.tenant = r.tenant and i.included_at >= r.created_at))"
    "  order by r.tenant, r.created_at desc) x) h on true"
    " where case when %(id)s::bigint is null"
    "  then p.status = any(%(active)s) or p.id = (select max(id) from zdm.rollouts) else p.id = %(id)s end"
    " order by p.id"
)


class PgRolloutRepository:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def create(self, rollout: Rollout) -> Rollout:
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    # due at once: if the process dies before the first save, the next tick still picks it up
                    "insert into zdm.rollouts (flag, status, started_at, wake_at, doc)"
                    " values (%s, %s, %s, %s, %s) returning id",
                    (
                        rollout.flag,
                        rollout.status.value,
                        rollout.started_at,
                        rollout.started_at,
                        Jsonb(to_doc(rollout)),
                    ),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            active = [r for r in self.active() if r.flag == rollout.flag]
            raise RolloutActive(flag=rollout.flag, rollout_id=active[0].id if active else None) from None
        assert row is not None
        return replace(rollout, id=int(row[0]))

    def save(self, rollout: Rollout, *, wake_at: datetime | None, durable: bool = True) -> None:
        # not durable: losing this write in a database crash only means doing the same harmless work again (the
        # setting is made by the statement itself, for its transaction: no extra round trip)
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.rollouts set status = %s, wake_at = %s, doc = %s"
                " from (select set_config('synchronous_commit',"
                "  case when %s then current_setting('synchronous_commit') else 'off' end, true)) as commit_mode"
                " where id = %s",
                (rollout.status.value, wake_at, Jsonb(to_doc(rollout)), durable, rollout.id),
            )

    def get(self, rollout_id: int) -> Rollout | None:
        with reading(self._pool) as conn:
            row = conn.execute("select id, doc from zdm.rollouts where id = %s", (rollout_id,)).fetchone()
        return from_doc(int(row[0]), row[1]) if row else None

    def recent(self, *, limit: int) -> list[Rollout]:
        with reading(self._pool) as conn:
            rows = conn.execute("select id, doc from zdm.rollouts order by id desc limit %s", (limit,)).fetchall()
        return [from_doc(int(r[0]), r[1]) for r in rows]

    def active(self) -> list[Rollout]:
        with reading(self._pool) as conn:
            rows = conn.execute(
                "select id, doc from zdm.rollouts where status = any(%s) order by id", (list(ACTIVE),)
            ).fetchall()
        return [from_doc(int(r[0]), r[1]) for r in rows]

    def count_by_status(self) -> dict[str, int]:
        """How many rollouts are in each state (for the metrics endpoint)."""
        with self._pool.connection() as conn:
            rows = conn.execute("select status, count(*) from zdm.rollouts group by status").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def due(self, now: datetime) -> list[int]:
        with reading(self._pool) as conn:
            rows = conn.execute(
                "select id from zdm.rollouts where status = 'running' and wake_at <= %s order by wake_at", (now,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def next_wake(self) -> datetime | None:
        with reading(self._pool) as conn:
            row = conn.execute("select min(wake_at) from zdm.rollouts where status = 'running'").fetchone()
        return row[0] if row else None

    def exclusive(self, rollout_id: int, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((ROLLOUT_LOCK_CLASS, rollout_id), wait_s=wait_s)

    def held(self, flag: str) -> dict[str, int]:
        with reading(self._pool) as conn:
            rows = conn.execute(HELD_SQL, (flag,)).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def with_held(self, rollout_id: int | None) -> list[tuple[Rollout, dict[str, int]]]:
        # one statement: `/zdm rollout status` reads this before the ack
        with reading(self._pool) as conn:
            rows = conn.execute(_WITH_HELD_SQL, {"id": rollout_id, "active": list(ACTIVE)}).fetchall()
        return [(from_doc(int(r[0]), r[1]), {str(t): int(i) for t, i in (r[2] or {}).items()}) for r in rows]

    # --- routine KPI checks of many rollouts at once (see commands.rollout.watch_batch) -----------------------

    def get_many(self, rollout_ids: Sequence[int]) -> list[StoredRollout]:
        with reading(self._pool) as conn:
            rows = conn.execute(
                "select id, doc, xmin::text from zdm.rollouts where id = any(%s) order by id", (list(rollout_ids),)
            ).fetchall()
        return [StoredRollout(from_doc(int(r[0]), r[1]), str(r[2])) for r in rows]

    def held_many(self, flags: Sequence[str]) -> dict[str, dict[str, int]]:
        with reading(self._pool) as conn:
            rows = conn.execute(HELD_MANY_SQL, (list(flags),)).fetchall()
        held: dict[str, dict[str, int]] = {flag: {} for flag in flags}
        for flag, tenant, rollback_id in rows:
            held[str(flag)][str(tenant)] = int(rollback_id)
        return held

    def save_checked(self, checked: Sequence[GatesChecked]) -> set[int]:
        # routine: losing it in a database crash only means checking again (no WAL flush waited for)
        with self._pool.connection() as conn:
            rows = conn.execute(
                "update zdm.rollouts r set wake_at = v.wake_at,"
                " doc = jsonb_set(r.doc, '{gates_checked_at}', to_jsonb(v.checked_at))"
                " from (select set_config('synchronous_commit', 'off', true)) as commit_mode,"
                " unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[])"
                "  as v(id, version, checked_at, wake_at)"
                " where r.id = v.id and r.xmin::text = v.version and r.status = 'running' returning r.id",
                (
                    [c.stored.rollout.id for c in checked],
                    [c.stored.version for c in checked],
                    [c.checked_at.isoformat() for c in checked],
                    [c.wake_at for c in checked],
                ),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def rollback_open(self, *, flag: str, tenant: str) -> bool:
        with reading(self._pool) as conn:
            row = conn.execute(
                "select exists (select 1 from zdm.rollbacks where flag = %s and tenant = %s and finished_at is null)",
                (flag, tenant),
            ).fetchone()
        return bool(row and row[0])

    def request_stop(self, rollout_id: int, action: str | None) -> None:
        """Ask a flip running elsewhere to stop between tenants (``None`` withdraws the request)."""
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.rollouts set stop_request = %s,"
                " stop_requested_at = case when %s::text is null then null else now() end where id = %s",
                (action, action, rollout_id),
            )

    def stop_requested(self, rollout_id: int) -> str | None:
        """A pause or abort asked for in the last few minutes (an older one was left by a crashed worker)."""
        with reading(self._pool) as conn:
            row = conn.execute(
                "select stop_request from zdm.rollouts where id = %s"
                " and stop_requested_at > now() - interval '3 minutes'",
                (rollout_id,),
            ).fetchone()
        return str(row[0]) if row and row[0] else None

    def include(self, *, flag: str, tenant: str, actor: str, at: datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "insert into zdm.rollout_includes (flag, tenant, included_by, included_at) values (%s, %s, %s, %s)",
                (flag, tenant, actor, at),
            )


# --- the jsonb document ----------------------------------------------------------------------------------------

_TIMES = ("prompted_at", "reminded_at", "escalated_at", "flipped_at")
_LISTS = ("cohort", "already_enabled", "held_out", "approvals", "enabled")


def to_doc(rollout: Rollout) -> dict[str, Any]:
    return {
        "flag": rollout.flag,
        "plan_name": rollout.plan_name,
        "plan": [s.model_dump(mode="json") for s in rollout.plan],
        "gates": rollout.gates.model_dump(mode="json"),
        "digest": rollout.digest,
        "started_by": rollout.started_by,
        "started_at": rollout.started_at.isoformat(),
        "status": rollout.status.value,
        "status_reason": rollout.status_reason,
        "current": rollout.current,
        "steps": [_step_doc(s) for s in rollout.steps],
        "paused_at": _iso(rollout.paused_at),
        "paused_total_s": rollout.paused_total.total_seconds(),
        "last_flip_at": _iso(rollout.last_flip_at),
        "gates_checked_at": _iso(rollout.gates_checked_at),
        "channel": rollout.channel,
        "thread_ts": rollout.thread_ts,
        "finished_at": _iso(rollout.finished_at),
        "correlation_id": rollout.correlation_id,
        "paused_before_first_flip_s": (
            None if rollout.paused_before_first_flip is None else rollout.paused_before_first_flip.total_seconds()
        ),
        "history": list(rollout.history),
        "uid": rollout.uid,
    }


def from_doc(rollout_id: int, doc: dict[str, Any]) -> Rollout:
    return Rollout(
        id=rollout_id,
        flag=doc["flag"],
        plan_name=doc["plan_name"],
        plan=tuple(PlanStep.model_validate(s) for s in doc["plan"]),
        gates=GatesConfig.model_validate(doc["gates"]),
        digest=doc["digest"],
        started_by=doc["started_by"],
        started_at=datetime.fromisoformat(doc["started_at"]),
        status=RolloutStatus(doc["status"]),
        status_reason=doc["status_reason"],
        current=int(doc["current"]),
        steps=tuple(_step_from(s) for s in doc["steps"]),
        paused_at=_time(doc["paused_at"]),
        paused_total=timedelta(seconds=doc["paused_total_s"]),
        last_flip_at=_time(doc["last_flip_at"]),
        gates_checked_at=_time(doc["gates_checked_at"]),
        channel=doc["channel"],
        thread_ts=doc["thread_ts"],
        finished_at=_time(doc["finished_at"]),
        correlation_id=doc["correlation_id"],
        paused_before_first_flip=(
            None
            if doc.get("paused_before_first_flip_s") is None
            else timedelta(seconds=doc["paused_before_first_flip_s"])
        ),
        history=tuple(doc["history"]),
        uid=str(doc.get("uid") or f"{rollout_id}-without-uid"),  # the state migration gave every rollout one
    )


def _step_doc(state: StepState) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": state.status.value,
        "prompt_ts": state.prompt_ts,
        "flipped_by": state.flipped_by,
        "failed": [list(f) for f in state.failed],
        "denied_by": state.denied_by,
        "reason": state.reason,
        "skipped": [list(f) for f in state.skipped],
        "interrupted": state.interrupted,
    }
    doc |= {name: _iso(getattr(state, name)) for name in _TIMES}
    doc |= {name: list(getattr(state, name)) for name in _LISTS}
    return doc


def _step_from(doc: dict[str, Any]) -> StepState:
    return StepState(
        status=StepStatus(doc["status"]),
        prompt_ts=doc["prompt_ts"],
        flipped_by=doc["flipped_by"],
        failed=tuple((str(t), str(w)) for t, w in doc["failed"]),
        denied_by=doc["denied_by"],
        reason=doc["reason"],
        skipped=tuple((str(t), str(w)) for t, w in doc.get("skipped", ())),
        interrupted=doc.get("interrupted"),
        prompted_at=_time(doc["prompted_at"]),
        reminded_at=_time(doc["reminded_at"]),
        escalated_at=_time(doc["escalated_at"]),
        flipped_at=_time(doc["flipped_at"]),
        cohort=tuple(doc["cohort"]),
        already_enabled=tuple(doc["already_enabled"]),
        held_out=tuple(doc["held_out"]),
        approvals=tuple(doc["approvals"]),
        enabled=tuple(doc["enabled"]),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
