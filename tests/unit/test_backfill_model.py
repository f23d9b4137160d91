"""Pure backfill decisions: batch sizing by time, the runbook's abort rules, windows, key ranges, arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.backfill.args import parse_backfill_args
from commands.backfill.config import EngineConfig, Environment
from commands.backfill.model import (
    Progress,
    abort_reason,
    load_decision,
    next_batch_size,
    next_window_start,
    split_ranges,
    window_open,
)
from commands.errors import UsageError

CFG = EngineConfig(target_batch_ms=100, max_batch=50_000)
BERLIN = Environment(window="01:00-05:00", timezone="Europe/Berlin")


def test_batches_aim_at_the_target_duration_within_bounds() -> None:
    assert next_batch_size(1000, 50, CFG) == 2000  # twice too fast: at most double
    assert next_batch_size(1000, 400, CFG) == 250  # four times too slow: a quarter
    assert next_batch_size(1000, 4000, CFG) == 250  # never shrinks more than 4× in one step
    assert next_batch_size(60_000, 10, CFG) == CFG.max_batch
    assert next_batch_size(120, 1000, CFG) == CFG.min_batch


def test_abort_rules_are_the_runbooks() -> None:
    ok = Progress(done=10_000, failed=50)  # 0.497 %
    assert abort_reason(ok, 0, timedelta(minutes=29), CFG) is None
    bad = abort_reason(Progress(done=10_000, failed=60), 0, timedelta(minutes=1), CFG)
    assert bad and bad.startswith("error rate 0.60 % is over 0.5 %")
    audit = abort_reason(ok, 20, timedelta(minutes=1), CFG)  # audit-table anomalies count too
    assert audit and "20 audit anomalies" in audit
    slow = abort_reason(ok, 0, timedelta(minutes=30, seconds=1), CFG)
    assert slow == "runtime 30 min 01 s is over 30 min 00 s"


def test_load_throttles_then_stops() -> None:
    cfg = EngineConfig(load_throttle_at=20, load_stop_at=50)
    assert [load_decision(v, cfg) for v in (None, 5, 20, 49, 50)] == ["run", "run", "wait", "wait", "stop"]


def test_low_traffic_window_in_its_time_zone() -> None:
    winter = datetime(2026, 1, 10, 0, 30, tzinfo=UTC)  # 01:30 in Berlin
    assert window_open(BERLIN, winter)
    assert not window_open(BERLIN, winter + timedelta(hours=4))  # 05:30
    assert next_window_start(BERLIN, winter + timedelta(hours=4)) == datetime(2026, 1, 11, 0, 0, tzinfo=UTC)
    overnight = Environment(window="22:00-02:00")
    assert window_open(overnight, datetime(2026, 1, 10, 23, 0, tzinfo=UTC))
    assert not window_open(overnight, datetime(2026, 1, 10, 12, 0, tzinfo=UTC))


@given(st.integers(1, 10**9), st.integers(0, 10**6), st.integers(1, 16))
def test_key_ranges_are_disjoint_and_cover_everything(low: int, width: int, workers: int) -> None:
    ranges = split_ranges(low, low + width, workers)
    assert ranges[0][0] == low - 1 and ranges[-1][1] == low + width
    assert all(a < b for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))


def test_backfill_arguments() -> None:
    start = parse_backfill_args("start production tenant_profiles --override restored from a prod snapshot")
    assert (start.env, start.job, start.reason) == ("production", "tenant_profiles", "restored from a prod snapshot")
    assert parse_backfill_args("set batch-size 500 #3").batch_size == 500
    fast = parse_backfill_args("start staging items --max-speed")
    assert (fast.env, fast.job, fast.max_speed) == ("staging", "items", True)
    assert not parse_backfill_args("start staging").max_speed
    assert parse_backfill_args("pause #3").run_id == 3
    for bad, message in [
        ("", "Use `/zdm backfill start <env> [job] [--max-speed]"),
        ("start", "Use `/zdm backfill start <env> [job] [--max-speed]"),
        ("start production x --override", "`--override` needs a reason"),
        ("set batch-size 0", "a positive whole number"),
        ("pause now please", "takes at most a run number"),
        ("drop table", "Use `/zdm backfill start"),
    ]:
        with pytest.raises(UsageError) as caught:
            parse_backfill_args(bad)
        assert message in str(caught.value), bad
