"""The state database goes away and comes back (cut at the network edge by a proxy): commands answer "database
unavailable, retrying" within the request, /readyz says so, the scheduler's ticks fail without stopping it, and
everything works again once the database is back, without a restart."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig
from scheduler.runner import Metronome
from tests.conftest import BotServer, Databases, make_settings
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import FakeClock

RETRYING = re.compile(r"The database is unavailable, retrying \(ref [0-9a-f]{8}\); nothing was changed\. .*")


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, proxy: PgOutageProxy
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path, state_url=proxy.url), config=config, clock=clock)
    yield built
    built.close()


def reply(bot: BotServer, text: str = "rollout list") -> str:
    answer = bot.command(text)
    assert answer.status_code == 200
    return str(answer.json()["text"]) if answer.headers["content-type"].startswith("application/json") else answer.text


def test_commands_say_retrying_while_the_state_database_is_down_and_work_once_it_is_back(
    bot: BotServer, container: Container, proxy: PgOutageProxy
) -> None:
    assert reply(bot).startswith("No rollouts yet")
    services = container.services
    metronome = Metronome(
        clock=services.clock, tick_s=60, jobs=services.scheduled_jobs(), on_error=services.report_job_error
    )

    proxy.cut()
    assert RETRYING.fullmatch(reply(bot))  # read before the ack, within the ledger's wait for a connection
    assert RETRYING.fullmatch(reply(bot, "rollout start"))  # the request ledger
    # a read-only command of the target database alone needs no ledger row: it still answers
    assert reply(bot, "tenants pilot_*").startswith("Tenants matching `pilot_*`")
    ready = httpx.get(bot.url + "/readyz", timeout=10)
    assert (ready.status_code, ready.text) == (503, "not ready: state database unavailable (OperationalError)\n")
    metronome.tick()  # the first job finds the database gone, which ends the tick early; the tick does not raise
    assert metronome.ticks == 1
    metrics = httpx.get(bot.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "zdm_state_up 0.0" in metrics.text

    proxy.restore()
    deadline = time.monotonic() + 60  # the pools reconnect with a short backoff
    said = reply(bot)
    while RETRYING.fullmatch(said) and time.monotonic() < deadline:
        said = reply(bot)
    assert said.startswith("No rollouts yet")
    assert httpx.get(bot.url + "/readyz", timeout=10).status_code == 200
    metronome.tick()
    assert metronome.ticks == 2
