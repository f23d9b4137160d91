"""The destructive-cleanup gate (runbook §7) and the cleanup request, as pure decisions.

Cleanup (dropping legacy columns and views) is allowed once the rollout has reached all tenants and then
``stable_days`` consecutive days passed with every day's KPIs within the rollout gates' thresholds and no rollback
of the flag. Days are counted from the moment the rollout reached all tenants; a bad day (a breach, no data, or a
rollback during it) restarts the count at its end, so the earliest date moves to that end plus ``stable_days``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from commands.approvals import Approval
from commands.rollout.gates import GateReport

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Day:
    number: int  # 1-based, counted from when the rollout reached all tenants
    since: datetime
    until: datetime
    report: GateReport | None  # None: the day is not over yet
    rollbacks: tuple[str, ...] = ()  # tenants rolled back during it

    @property
    def bad(self) -> bool:
        return bool(self.rollbacks) or (self.report is not None and self.report.blocks)


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reasons: tuple[str, ...]  # why not, one phrase each (empty when allowed)
    days: tuple[Day, ...]
    earliest: datetime | None  # when cleanup can be allowed at the soonest (None: not known yet)


def day_windows(reached_at: datetime, now: datetime, *, limit: int = 60) -> list[tuple[datetime, datetime]]:
    """The days since ``reached_at`` that are over at ``now`` (the newest ``limit``), oldest first."""
    complete = max(0, int((now - reached_at) / DAY))
    first = max(0, complete - limit)
    return [(reached_at + DAY * i, reached_at + DAY * (i + 1)) for i in range(first, complete)]


def rollback_days(reached_at: datetime, rollbacks: Sequence[tuple[str, datetime]]) -> dict[int, tuple[str, ...]]:
    """Day number → tenants rolled back that day (rollbacks before ``reached_at`` do not count)."""
    found: dict[int, tuple[str, ...]] = {}
    for tenant, at in rollbacks:
        if at >= reached_at:
            number = int((at - reached_at) / DAY) + 1
            found[number] = (*found.get(number, ()), tenant)
    return found


def decide(
    *, reached_at: datetime | None, now: datetime, days: Sequence[Day], stable_days: int, problems: Sequence[str] = ()
) -> GateDecision:
    """Whether cleanup may be scheduled at ``now``. ``days`` holds every day over at ``now`` and the current one
    when it had a rollback; ``problems`` are other reasons (e.g. a missing ``_rollback.sql`` pair)."""
    if reached_at is None:
        return GateDecision(False, ("the rollout has not reached all tenants yet", *problems), tuple(days), None)
    bad = [d for d in days if d.bad]
    streak_start = max((d.until for d in bad), default=reached_at)
    earliest = streak_start + DAY * stable_days
    reasons = list(problems)
    if now < earliest:
        when = f"{earliest:%Y-%m-%d %H:%M} UTC"
        if bad:
            last = bad[-1]
            why = f"rollback of {', '.join(last.rollbacks)}" if last.rollbacks else "KPIs out of bounds"
            if last.report is not None and last.report.blocks and not last.rollbacks:
                why = last.report.failing_sentence()
            reasons.insert(
                0,
                f"day {last.number} ({last.since:%Y-%m-%d}) was not stable ({why}), so the {stable_days} stable days "
                f"start again after it; the earliest cleanup date is {when}",
            )
        else:
            reasons.insert(
                0,
                f"the rollout reached all tenants on {reached_at:%Y-%m-%d %H:%M} UTC; {stable_days} stable days "
                f"have not passed yet: the earliest cleanup date is {when}",
            )
    return GateDecision(not reasons, tuple(reasons), tuple(days), earliest)


class CleanupStatus(StrEnum):
    AWAITING = "awaiting"
    APPROVED = "approved"
    VOID = "void"


@dataclass(frozen=True)
class Cleanup:
    id: int
    release: str
    file: str  # the cleanup migration, relative to app.root
    files_hash: str  # the migration and its _rollback.sql pair: approvals are void when either changes
    requester: str
    requested_at: datetime
    status: CleanupStatus = CleanupStatus.AWAITING
    approvals: tuple[Approval, ...] = ()
    reason: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    break_glass: str | None = None  # requested past the stable-days gate: why, and who confirmed
