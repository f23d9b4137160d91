"""The heavy lane leaves a core free for rollbacks and acks."""

from __future__ import annotations

import os

from bot.executor import DEFAULT_LANES, HEAVY, heavy_workers


def test_heavy_work_gets_one_core_fewer_than_zdm_may_use_between_one_and_four() -> None:
    cores = len(os.sched_getaffinity(0))
    assert heavy_workers() == max(1, min(4, cores - 1))
    assert DEFAULT_LANES[HEAVY] == heavy_workers()


def test_on_two_cores_one_heavy_job_runs_at_a_time() -> None:
    pid = os.getpid()
    allowed = os.sched_getaffinity(pid)
    try:
        os.sched_setaffinity(pid, sorted(allowed)[:2])
        assert heavy_workers() == 1  # on two cores (or one, if that is all there is)
        os.sched_setaffinity(pid, sorted(allowed)[:1])
        assert heavy_workers() == 1  # never none
    finally:
        os.sched_setaffinity(pid, allowed)
