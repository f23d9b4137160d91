"""Rollout harness: the real APScheduler ticking on the fake clock, demo traffic for the KPI gates, card lookups."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.bootstrap import Container
from bot.demo import DemoTraffic
from bot.local.emulator import Message, SlackEmulator
from commands.rollout.views import APPROVE_ACTION
from scheduler.runner import Metronome
from tests.conftest import BotServer, Databases
from tests.fakes import FakeClock

FLAG = "tenant.enableNewProfile"


@pytest.fixture
def clock() -> FakeClock:
    """Near the real time, so the demo's seeded orders (written relative to ``now()``) are in the last 7 days."""
    return FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))


@dataclass
class Cadence:
    """Walks clock time: ``at(hours)`` moves the fake clock, writes healthy traffic, and runs one real tick."""

    clock: FakeClock
    metronome: Metronome
    traffic: DemoTraffic
    start: datetime
    _ticked: threading.Semaphore

    def at(self, offset: timedelta, *, traffic: bool = True) -> None:
        target = self.start + offset
        assert target >= self.clock.now(), "the clock only moves forward"
        self.clock.advance(target - self.clock.now())
        if traffic:
            self.traffic(self.clock.now())
        self.tick()

    def tick(self) -> None:
        self.metronome.wake_now()
        assert self._ticked.acquire(timeout=30), "the scheduler did not tick"


@pytest.fixture
def cadence(container: Container, clock: FakeClock) -> Iterator[Cadence]:
    ticked = threading.Semaphore(0)
    jobs: dict[str, Any] = dict(container.services.scheduled_jobs())
    jobs["test_sentinel"] = lambda _now: ticked.release()
    metronome = Metronome(clock=clock, tick_s=3600, jobs=jobs, time_scale=0)  # ticks only when told to
    traffic = DemoTraffic(container.target_pool, flag=FLAG, flag_table="public.feature_flags", error_rate=0.0)
    metronome.start()
    assert ticked.acquire(timeout=30)  # the first tick runs at start
    yield Cadence(clock, metronome, traffic, clock.now(), ticked)
    metronome.shutdown()


def thread_messages(slack: SlackEmulator) -> list[Message]:
    return [m for m in slack.in_channel("#release") if m.thread_ts]


def step_prompts(slack: SlackEmulator, step: int | None = None) -> list[Message]:
    """The approval prompts in the rollout threads: every one, or those of one step."""
    head = "*Step " if step is None else f"*Step {step}/"
    return [m for m in thread_messages(slack) if card_text(m).startswith(head)]


def card_text(message: Message) -> str:
    parts = []
    for block in message.blocks:
        if block.get("text"):
            parts.append(block["text"]["text"])
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def prompt_for(slack: SlackEmulator, step: int) -> Message:
    found = step_prompts(slack, step)
    assert len(found) == 1, f"expected one prompt for step {step}, found {len(found)}"
    return found[0]


def enabled(dbs: Databases) -> set[str]:
    with dbs.target() as conn:
        rows = conn.execute("select tenant_slug from public.feature_flags where flag = %s and enabled", (FLAG,))
        return {r[0] for r in rows}


def approve(bot: BotServer, step: int, user: str) -> None:
    assert bot.click(prompt_for(bot.slack, step), APPROVE_ACTION, user=user).status_code == 200
    bot.settle()
