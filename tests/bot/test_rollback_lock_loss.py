"""A rollback's lock under a state-database outage (issue 14, case 6), through signed Slack requests.

The smoke tests of the demo app copy are gated: they record each run, then wait for the test to let them finish,
so the outage lands while the rollback is running a step. The state database is cut at the network edge (a TCP
proxy) while the scheduler's resume job runs; every step must run once and the requester must be told the truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.adapters.locks import lease_name
from commands.adapters.state_pg import ROLLBACK_LOCK_CLASS
from commands.config import RunbookConfig
from scheduler.runner import Metronome
from tests.conftest import BotServer, Databases, make_settings
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import FakeClock

STEPS = ("rollback.flag_off", "rollback.restore_views", "rollback.smoke_tests", "rollback.rollback_log")
GATED_SMOKE = """
import pathlib, sys, time
here = pathlib.Path(__file__).parent
with open(here / "runs", "a") as runs:
    runs.write(" ".join(sys.argv[1:]) + "\\n")
(here / "started").touch()
deadline = time.monotonic() + 60
while not (here / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print("tenancy smoke: gated run ok")
"""


@pytest.fixture
def gate(app_root: Path) -> Path:
    """The smoke script of the app copy, replaced by one that waits for ``go`` (a file the test creates)."""
    scripts = app_root / "scripts"
    (scripts / "smoke_tenancy.py").write_text(GATED_SMOKE, encoding="utf-8")
    return scripts


@pytest.fixture
def container(
    dbs: Databases,
    slack: SlackEmulator,
    config: RunbookConfig,
    tmp_path: Path,
    clock: FakeClock,
    proxy: PgOutageProxy,
    gate: Path,
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path, state_url=proxy.url), config=config, clock=clock)
    yield built
    built.close()


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert condition(), f"timed out waiting for {what}"  # type: ignore[operator]


def state_answers(container: Container) -> bool:
    try:
        container.services.rollback_repo.unfinished()
        return True
    except Exception:  # PoolTimeout while the pool reconnects
        return False


def audit_counts(dbs: Databases) -> dict[str, int]:
    with dbs.state() as conn:  # directly, not through the proxy
        rows = conn.execute("select action, count(*) from zdm.audit_log group by action").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def smoke_runs(gate: Path) -> list[str]:
    runs = gate / "runs"
    return runs.read_text(encoding="utf-8").splitlines() if runs.exists() else []


def test_a_one_second_outage_under_a_running_rollback_runs_every_step_once_and_tells_the_truth(
    bot: BotServer, container: Container, dbs: Databases, proxy: PgOutageProxy, gate: Path, clock: FakeClock
) -> None:
    services = container.services
    resume = services.scheduled_jobs()["resume_rollbacks"]
    metronome = Metronome(clock=clock, tick_s=60, jobs=services.scheduled_jobs(), on_error=services.report_job_error)
    ack = bot.command("rollback tenant pilot_a outage drill").json()["text"]
    assert ack.startswith("Rolling back `pilot_a`")
    wait_for(lambda: (gate / "started").exists(), "the smoke tests to start")

    proxy.cut()  # every state connection dies, the lock's included (about a second)
    metronome.tick()  # the scheduler's tick meets the outage and ends early
    proxy.restore()
    wait_for(lambda: state_answers(container), "the state database to answer again")
    resume(clock.now())  # the resume job right after the outage: the running rollback still holds its lease
    assert smoke_runs(gate) == ["--tenant pilot_a"]

    (gate / "go").touch()
    bot.settle()
    assert smoke_runs(gate) == ["--tenant pilot_a"]  # once
    counts = audit_counts(dbs)
    assert [counts.get(step) for step in (*STEPS, "rollback.finished")] == [1, 1, 1, 1, 1], counts
    [message] = bot.slack.in_channel("#release")
    assert "Rolled back `pilot_a`" in message.blocks[0]["text"]["text"]
    assert "passed in" in str(message.blocks)
    assert bot.responses() == []  # the ack ("progress in #release") was the whole truth: no "try again"
    resume(clock.now())
    assert audit_counts(dbs) == counts  # a finished rollback is left alone


@pytest.fixture
def replica(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> Iterator[Container]:
    """A second zdm replica on the same databases (its own pools and locks)."""
    built = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    yield built
    built.close()


def test_a_holder_whose_lease_was_taken_over_stops_without_writing_and_no_step_runs_twice(
    bot: BotServer, container: Container, replica: Container, dbs: Databases, gate: Path, clock: FakeClock
) -> None:
    ack = bot.command("rollback tenant pilot_a frozen worker").json()["text"]
    rollback_id = int(ack.split("#")[1].split(")")[0])
    wait_for(lambda: (gate / "started").exists(), "the smoke tests to start")
    with dbs.state() as conn:  # the holder looks dead to everyone else: its lease ran out
        conn.execute(
            "update zdm.leases set expires_at = now() - interval '1 second' where name = %s",
            (lease_name((ROLLBACK_LOCK_CLASS, rollback_id)),),
        )

    replica.services.scheduled_jobs()["resume_rollbacks"](clock.now())  # the other replica takes over and finishes
    taken_over = container.services.rollback_repo.get(rollback_id)
    assert taken_over is not None and taken_over.finished_at is not None
    smoke = next(s for s in taken_over.steps if s.step.value == "smoke_tests")
    assert smoke.status.value == "failed" and smoke.detail.startswith("interrupted")

    (gate / "go").touch()  # the old holder's smoke run ends; its writes are refused
    bot.settle()
    assert smoke_runs(gate) == ["--tenant pilot_a"]
    counts = audit_counts(dbs)
    assert [counts.get(step) for step in (*STEPS, "rollback.finished")] == [1, 1, 1, 1, 1], counts
    assert container.services.rollback_repo.get(rollback_id) == taken_over  # nothing written late
    [message] = bot.slack.in_channel("#release")
    assert "interrupted" in str(message.blocks)
    assert bot.responses() == []
