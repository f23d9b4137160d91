"""Job failures in #release: one message per distinct failure, its counter updated instead of a flood."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.bootstrap import Container
from bot.local.emulator import SlackEmulator
from scheduler.runner import Metronome
from tests.fakes import FakeClock


def failure_posts(slack: SlackEmulator) -> list[Any]:
    return [m for m in slack.in_channel("#release") if m.text.startswith("❌")]


def footer(message: Any) -> str:
    return str(message.blocks[-1]["elements"][0]["text"]) if message.blocks[-1]["type"] == "context" else ""


def test_identical_failures_fold_into_one_message_until_the_window_passes(
    container: Container, slack: SlackEmulator, clock: FakeClock
) -> None:
    failures = container.services.failures
    same = {"what": "Backfill `x` on `staging`", "where": "run #4", "error": "disk full", "next_command": "retry"}
    for _ in range(3):
        failures.report(**same)
        clock.advance(timedelta(minutes=10))
    [message] = failure_posts(slack)
    assert message.text == "❌ Backfill `x` on `staging` failed" and message.updates == 2
    assert footer(message).startswith("Seen 3 times since ")

    failures.report(**{**same, "error": "permission denied"})  # a different failure is its own message
    assert len(failure_posts(slack)) == 2
    clock.advance(timedelta(hours=25))
    failures.report(**same)  # a day later it is news again
    assert len(failure_posts(slack)) == 3 and footer(failure_posts(slack)[-1]) == ""


def test_a_scheduled_job_that_fails_every_tick_is_one_message(
    container: Container, slack: SlackEmulator, clock: FakeClock
) -> None:
    ticked = threading.Semaphore(0)

    def broken(now: datetime) -> None:
        raise RuntimeError("KPI source unreachable")

    jobs: dict[str, Callable[[datetime], object]] = {"broken": broken, "sentinel": lambda _now: ticked.release()}
    metronome = Metronome(
        clock=clock, tick_s=3600, jobs=jobs, time_scale=0, on_error=container.services.report_job_error
    )
    metronome.start()
    try:
        for _ in range(3):
            assert ticked.acquire(timeout=10)
            clock.advance(timedelta(minutes=1))
            metronome.wake_now()
        assert ticked.acquire(timeout=10)
    finally:
        metronome.shutdown()
    [message] = failure_posts(slack)
    assert message.text == "❌ Scheduled job `broken` failed" and footer(message).startswith("Seen 4 times")
    assert "RuntimeError: KPI source unreachable" in str(message.blocks)
