"""The 7-day cleanup gate as a pure decision on a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from commands.cleanup.model import DAY, Day, day_windows, decide, rollback_days
from commands.rollout.config import GatesConfig
from commands.rollout.gates import KpiReading, evaluate
from tests.fakes import FakeClock

GATES = GatesConfig()
REACHED = FakeClock().now()


def days(
    now: datetime, *, bad: dict[int, int] | None = None, rollbacks: Sequence[tuple[str, datetime]] = ()
) -> list[Day]:
    """One reading per complete day; ``bad`` maps a day number to its error count out of 1000 requests."""
    rolled = rollback_days(REACHED, list(rollbacks))
    found = []
    for number, (since, until) in enumerate(day_windows(REACHED, now), start=1):
        errors = (bad or {}).get(number, 2)
        report = evaluate([KpiReading(since, until, 1000, errors, 120.0, 0)], GATES, tenants=40)
        found.append(Day(number, since, until, report, rolled.get(number, ())))
    return found


def test_day_six_refuses_with_the_earliest_date() -> None:
    clock = FakeClock(REACHED)
    clock.advance(6 * DAY)
    decision = decide(reached_at=REACHED, now=clock.now(), days=days(clock.now()), stable_days=7)
    assert not decision.allowed and len(decision.days) == 6
    assert decision.earliest == REACHED + 7 * DAY
    assert decision.reasons[0].endswith("the earliest cleanup date is 2026-12-02 09:00 UTC")


def test_day_seven_with_a_breach_on_day_three_refuses_and_restarts_the_count() -> None:
    clock = FakeClock(REACHED)
    clock.advance(7 * DAY)
    decision = decide(reached_at=REACHED, now=clock.now(), days=days(clock.now(), bad={3: 30}), stable_days=7)
    assert not decision.allowed
    assert [d.number for d in decision.days if d.bad] == [3]
    assert decision.earliest == REACHED + 10 * DAY
    assert decision.reasons[0].startswith("day 3 (2026-11-27) was not stable (error rate 3.00 % (needs < 1 %))")


def test_a_clean_day_seven_allows() -> None:
    clock = FakeClock(REACHED)
    clock.advance(7 * DAY)
    decision = decide(reached_at=REACHED, now=clock.now(), days=days(clock.now()), stable_days=7)
    assert decision.allowed and decision.reasons == () and len(decision.days) == 7


def test_a_rollback_counts_as_a_bad_day_and_a_missing_pair_refuses() -> None:
    now = REACHED + 7 * DAY
    rolled = [("pilot_a", REACHED + 4 * DAY + timedelta(hours=3))]
    decision = decide(reached_at=REACHED, now=now, days=days(now, rollbacks=rolled), stable_days=7)
    assert not decision.allowed and decision.earliest == REACHED + 12 * DAY
    assert "rollback of pilot_a" in decision.reasons[0]
    clean = decide(reached_at=REACHED, now=now, days=days(now), stable_days=7, problems=["no pair"])
    assert not clean.allowed and clean.reasons == ("no pair",)


def test_not_reached_all_tenants_refuses_without_a_date() -> None:
    decision = decide(reached_at=None, now=REACHED, days=[], stable_days=7)
    assert not decision.allowed and decision.earliest is None
