"""The per-database work queue through signed Slack requests: a second backfill on staging waits its turn with its
position, starts by itself on the scheduler tick once the first has finished (exactly once), can be cancelled by its
requester (not by a stranger), and `/zdm queue` lists what runs and waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.bootstrap import Container
from commands.adapters.queue_pg import database_key
from commands.backfill.model import RunStatus
from commands.config import RunbookConfig
from commands.rollback.views import ALL_OFF_ACTION
from tests.bot.conftest import Cadence, card_text
from tests.conftest import ONCALL, STRANGER, BotServer, Databases, write_config

VERSION = "20250301000000"  # the demo migration whose paired rollback drops public.tenant_profiles
DBA = "U0DBA"
LEAD = "U0LEAD"
JOBS = """
[backfill]
default_job = "touch"

[backfill.environments.staging]

[backfill.jobs.touch]
legacy_sql = "update public.tenants set slug = slug"
verify_sql = "select count(*) from public.tenants where slug is null"

[backfill.jobs.other]
legacy_sql = "update public.tenants set slug = slug"
verify_sql = "select count(*) from public.tenants where slug is null"
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    roles = f'dba = ["{ONCALL}", "{DBA}"]\nplatform_lead = ["{LEAD}"]'
    return write_config(tmp_path / "zdm.toml", app_root, extra=JOBS, roles=roles)


@pytest.fixture
def tenants_locked(dbs: Databases) -> Iterator[psycopg.Connection[Any]]:
    """A transaction holding every tenant row: backfill #1's statement waits on it (stays running) until the test
    commits it."""
    with psycopg.connect(dbs.target_url) as conn:
        conn.execute("select 1 from public.tenants for update")
        yield conn


def table_exists(dbs: Databases, name: str) -> bool:
    with dbs.target() as conn:
        return bool(conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0])


def queue_rows(dbs: Databases) -> list[tuple[Any, ...]]:
    with dbs.state() as conn:
        return conn.execute("select id, kind, requester, status, ref from zdm.work_queue order by id").fetchall()


def runs(dbs: Databases) -> list[tuple[Any, ...]]:
    with dbs.state() as conn:
        return conn.execute("select id, job, started_by, status from zdm.backfill_runs order by id").fetchall()


def finished(container: Container, run_id: int) -> None:
    """Wait for the run's engine thread (real work on the target database) to stop."""
    deadline = time.monotonic() + 30
    while (run := container.services.backfills.get(run_id)) is None or run.status is RunStatus.RUNNING:
        assert time.monotonic() < deadline, f"backfill #{run_id} did not finish"
        container.services.backfills.wait(1)


def queue_card(bot: BotServer, item: int) -> str:
    """The text of queue item ``item``'s card in the release channel (its title without the bold marks)."""
    [card] = [text for m in bot.slack.in_channel("#release") if f"Q{item}: " in (text := card_text(m))]
    return card.replace("*", "")


def test_a_second_backfill_on_the_same_database_waits_and_starts_once_when_the_first_finishes(
    bot: BotServer, container: Container, dbs: Databases, cadence: Cadence, tenants_locked: psycopg.Connection[Any]
) -> None:
    assert bot.command("backfill start staging").json()["text"] == "Backfill #1 of `touch` on `staging` starts now."
    bot.settle()
    said = bot.command("backfill start staging other", user=DBA).json()["text"]
    assert said == "Backfill of `other` on `staging` is queued as Q2: you are 2nd; starts when backfill #1 finishes."
    bot.settle()
    assert queue_card(bot, 2).startswith("⏳ Q2: Backfill on `staging` requested by <@U0DBA> — 2nd in queue behind")
    listing = bot.command("queue staging", user=STRANGER).json()["text"]
    assert listing.splitlines() == [
        "Work queue on `staging`'s database:",
        f"1st. Q1 backfill #1 on `staging` by <@{ONCALL}>: running",
        f"2nd. Q2 backfill on `staging` by <@{DBA}>: waiting 0 min",
    ]
    cadence.tick()  # #1 still runs: nothing starts
    assert [r[3] for r in runs(dbs)] == ["running"]
    tenants_locked.commit()
    finished(container, 1)
    assert [r[3] for r in runs(dbs)] == ["verified"]  # the second has not started on its own

    cadence.tick()  # the first is over: the queue starts the second, as its requester
    finished(container, 2)
    cadence.tick()
    cadence.tick()
    assert runs(dbs) == [(1, "touch", ONCALL, "verified"), (2, "other", DBA, "verified")]
    assert queue_rows(dbs) == [(1, "backfill", ONCALL, "done", 1), (2, "backfill", DBA, "done", 2)]
    assert queue_card(bot, 2).startswith("▶️ Q2: Backfill on `staging` requested by <@U0DBA> — started as backfill #2")
    assert bot.command("queue", user=STRANGER).json()["text"] == "Nothing is queued or running."


def test_the_requester_cancels_a_waiting_item_and_a_stranger_cannot(
    bot: BotServer, dbs: Databases, tenants_locked: psycopg.Connection[Any]
) -> None:
    bot.command("backfill start staging")
    bot.settle()
    said = bot.command("backfill start staging other", user=DBA).json()["text"]
    assert said.startswith("Backfill of `other` on `staging` is queued as Q2: you are 2nd")
    bot.settle()
    said = bot.command("queue cancel Q2", user=STRANGER).json()["text"]
    assert said == f"Only <@{DBA}> or a `platform_lead` may cancel Q2."
    said = bot.command("queue cancel Q1", user=DBA).json()["text"]
    assert said.startswith("Q1 already started as backfill #1")
    said = bot.command("queue cancel Q2", user=DBA).json()["text"]
    assert said == "Q2 (backfill on `staging`) cancelled; nothing was started."
    assert queue_card(bot, 2).startswith(f"✖️ Q2: Backfill on `staging` requested by <@{DBA}> — cancelled by <@{DBA}>")
    assert [(r[0], r[3]) for r in queue_rows(dbs)] == [(1, "running"), (2, "cancelled")]
    assert [r[1] for r in runs(dbs)] == ["touch"]
    assert (
        bot.command("queue cancel Q2", user=DBA).json()["text"]
        == "There is no queued item Q2; `/zdm queue` lists them."
    )


def test_a_rollbacks_schema_step_jumps_ahead_of_a_queued_deploy_and_waits_only_for_running_work(
    bot: BotServer, container: Container, dbs: Databases, cadence: Cadence, tenants_locked: psycopg.Connection[Any]
) -> None:
    bot.command("backfill start staging")
    bot.settle()
    said = bot.command("schema deploy preview", user=DBA).json()["text"]
    assert said == "Schema deploy to `preview` is queued as Q2: you are 2nd; starts when backfill #1 finishes."
    bot.settle()
    bot.command(f"rollback tenant pilot_a --schema {VERSION} bad migration")
    bot.settle()
    [rollback_card] = [m for m in bot.slack.in_channel("#release") if "Rollback" in card_text(m)]
    bot.click(rollback_card, ALL_OFF_ACTION, user=LEAD)
    bot.settle()
    assert bot.responses()[-1] == (
        "Your decision on rollback #1 is recorded; its schema step waits for the target database (you are 2nd; "
        "starts when backfill #1 finishes), then zdm applies it by itself and the card will update."
    )
    deploy_waits = "⏳ Q2: Schema deploy on `preview` requested by <@U0DBA> — 3rd in queue behind schema rollback #1"
    assert queue_card(bot, 2).startswith(deploy_waits)
    listing = bot.command("queue", user=STRANGER).json()["text"].splitlines()
    assert [line.split(" by ")[0] for line in listing[1:]] == [
        "1st. Q1 backfill #1 on `staging`",
        "2nd. Q3 schema rollback #1 on `target`",
        "3rd. Q2 schema deploy on `preview`",
    ]
    cadence.tick()
    assert table_exists(dbs, "public.tenant_profiles")  # still waiting for the backfill

    tenants_locked.commit()
    finished(container, 1)
    cadence.tick()  # the backfill is over: the rollback's schema step goes first, the deploy still waits
    assert not table_exists(dbs, "public.tenant_profiles")
    assert [(r[0], r[1], r[3]) for r in queue_rows(dbs)] == [
        (1, "backfill", "done"), (2, "schema deploy", "queued"), (3, "schema rollback", "done"),
    ]  # fmt: skip
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.schema_deploys").fetchone() == (0,)
    assert bot.command("queue cancel Q2", user=DBA).json()["text"] == (
        "Q2 (schema deploy on `preview`) cancelled; nothing was started."
    )


def test_a_start_a_crash_interrupted_is_made_by_the_next_tick_exactly_once(
    container: Container, dbs: Databases, cadence: Cadence
) -> None:
    claimed_at = cadence.clock.now() - timedelta(minutes=1)
    with dbs.state() as conn:  # what a crash right after the claim leaves behind: running, its work not created
        conn.execute(
            "insert into zdm.work_queue (database, env, kind, requester, requested_at, args, status, started_at)"
            " values (%s, 'staging', 'backfill', %s, %s, 'start staging other', 'running', %s)",
            (database_key(dbs.target_url), DBA, claimed_at, claimed_at),
        )
    cadence.tick()
    finished(container, 1)
    cadence.tick()
    cadence.tick()
    assert runs(dbs) == [(1, "other", DBA, "verified")]
    assert queue_rows(dbs) == [(1, "backfill", DBA, "done", 1)]


def test_ticks_racing_on_a_free_database_start_its_next_item_once(
    bot: BotServer, container: Container, dbs: Databases, tenants_locked: psycopg.Connection[Any]
) -> None:
    bot.command("backfill start staging")
    bot.settle()
    assert bot.command("backfill start staging other", user=DBA).json()["text"].startswith("Backfill of `other`")
    tenants_locked.commit()
    finished(container, 1)
    gate = threading.Barrier(6)
    started: list[int] = []

    def tick() -> None:
        gate.wait()
        started.append(container.services.queue.advance())

    ticks = [threading.Thread(target=tick) for _ in range(6)]
    for thread in ticks:
        thread.start()
    for thread in ticks:
        thread.join(30)
    assert sorted(started) == [0, 0, 0, 0, 0, 1]
    finished(container, 2)
    assert runs(dbs) == [(1, "touch", ONCALL, "verified"), (2, "other", DBA, "verified")]
