"""Routine KPI checks of many rollouts in one tick, in a handful of round trips instead of several per rollout.

A check that finds no breach changes nothing but ``gates_checked_at`` and the wake-up time. When every rollout due
in a tick has only such a check due, all of them are read at once, their held-out tenants read at once, their KPI
windows read together, and the ones without a breach saved in one statement that writes only those two fields and
only if the record is still exactly the one read (no lease needed: a rollout changed meanwhile is left as it is, and
whoever holds it saves a record that is due again). A breach, any other due work, or any error sends the rollout
down the usual locked path, which reads and decides everything again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from commands.ports import KpiSource
from commands.rollout.gates import KpiReading, evaluate, windows
from commands.rollout.model import Due, Rollout, due_work, next_wake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRollout:
    rollout: Rollout
    version: str  # changes with every write of the record


@dataclass(frozen=True)
class GatesChecked:
    stored: StoredRollout
    checked_at: datetime
    wake_at: datetime | None


@runtime_checkable
class BatchedRolloutStore(Protocol):
    def get_many(self, rollout_ids: Sequence[int]) -> list[StoredRollout]: ...

    def held_many(self, flags: Sequence[str]) -> dict[str, dict[str, int]]:
        """``held(flag)`` for several flags in one read."""
        ...

    def save_checked(self, checked: Sequence[GatesChecked]) -> set[int]:
        """Write each rollout's ``gates_checked_at`` and wake-up time, only where the record is still the version
        read; return the ids written."""
        ...


@runtime_checkable
class BatchedKpiSource(Protocol):
    def read_many(
        self, requests: Sequence[tuple[Sequence[str], Sequence[tuple[datetime, datetime]]]]
    ) -> list[list[KpiReading]]:
        """``read`` for several (tenants, windows) requests together, answers in the same order."""
        ...


def check_routine(
    store: BatchedRolloutStore,
    kpis: KpiSource,
    rollout_ids: Sequence[int],
    now: datetime,
    *,
    remind_after: timedelta,
    escalate_after: timedelta,
) -> list[int]:
    """Check the gates of the due rollouts whose only due work is that check; return the ids still to advance on
    the locked path (everything else due, every breach, everything not saved)."""
    try:
        stored = store.get_many(rollout_ids)
        routine = [
            s for s in stored if due_work(s.rollout, now, remind_after=remind_after, escalate_after=escalate_after)
            == [Due.CHECK_GATES]
        ]  # fmt: skip
        if not routine:
            return list(rollout_ids)
        held = store.held_many(sorted({s.rollout.flag for s in routine}))
        requests = [
            (s.rollout.exposed(set(held.get(s.rollout.flag, {}))), windows(now, s.rollout.gates)) for s in routine
        ]
        readings = _read_all(kpis, requests)
        checked = []
        for s, (tenants, _), found in zip(routine, requests, readings, strict=True):
            if evaluate(found, s.rollout.gates, tenants=len(tenants)).breached:
                continue  # the locked path pauses it and says why
            after = replace(s.rollout, gates_checked_at=now)
            wake = next_wake(after, now, remind_after=remind_after, escalate_after=escalate_after)
            checked.append(GatesChecked(s, now, wake))
        saved = store.save_checked(checked) if checked else set()
    except Exception:  # the locked path does the same work one rollout at a time, with its own error handling
        log.exception("batched KPI check failed; checking one rollout at a time")
        return list(rollout_ids)
    return [rollout_id for rollout_id in rollout_ids if rollout_id not in saved]


def _read_all(
    kpis: KpiSource, requests: Sequence[tuple[Sequence[str], Sequence[tuple[datetime, datetime]]]]
) -> list[list[KpiReading]]:
    """Each distinct (tenants, windows) read once: rollouts of several flags on the same cohort share a reading."""
    keys = [(tuple(tenants), tuple(spans)) for tenants, spans in requests]
    wanted = list(dict.fromkeys(key for key in keys if key[0]))
    if isinstance(kpis, BatchedKpiSource):
        found = kpis.read_many(wanted) if wanted else []
    else:
        found = [kpis.read(tenants, spans) for tenants, spans in wanted]
    answers = dict(zip(wanted, found, strict=True))
    return [list(answers[key]) if key[0] else [] for key in keys]
