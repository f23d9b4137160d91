"""A running backfill when the state database goes away (cut at the network edge): the run stops at a batch
boundary with its checkpoint, stays *running*, and the scheduler's next pass after the outage finishes it — no row
missed, none done twice, nothing to resume by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.backfill.model import RunStatus
from commands.config import RunbookConfig
from tests.conftest import ONCALL, Databases, make_settings, write_config
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import FakeClock
from tests.integration.test_backfill import JOBS, ROWS, items, touched

# about 1 000 rows/s over the first SLOW_ROWS rows: the run is well short of done while the outage is noticed, and
# finishes a few seconds after it
SLOW_ROWS = 4_000
SLOW_JOBS = (
    JOBS.replace("max_batch = 2000", "max_batch = 200\npause_between_ms = 400")
    .replace("id <= %(upto)s order by id", f"id <= least(%(upto)s, {SLOW_ROWS}) order by id", 1)
    .replace('where touched = 0"', f'where touched = 0 and id <= {SLOW_ROWS}"', 1)
)
__all__ = ["items"]  # the fixture, shared with test_backfill


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=SLOW_JOBS, roles=f'dba = ["{ONCALL}"]')


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, proxy: PgOutageProxy
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path, state_url=proxy.url), config=config, clock=clock)
    yield built
    built.close()


def status_of(dbs: Databases, run_id: int) -> str:
    with dbs.state() as conn:  # directly, not through the proxy
        row = conn.execute("select status from zdm.backfill_runs where id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row[0])


def state_answers(container: Container, run_id: int) -> bool:
    try:
        return container.services.backfills.get(run_id) is not None
    except Exception:  # PoolTimeout while the pool is still reconnecting
        return False


@pytest.mark.usefixtures("items")
def test_a_state_database_outage_interrupts_a_backfill_which_then_finishes_by_itself(
    container: Container, dbs: Databases, proxy: PgOutageProxy, clock: FakeClock
) -> None:
    backfills = container.services.backfills
    checkpoints = backfills._p.checkpoints["staging"]
    run = backfills.start(env="staging", job=None, actor=ONCALL, max_speed=True)  # the configured pace, no throttle
    backfills.tend(clock.now())  # what the scheduler's tick does: start executing it here
    while checkpoints.progress(run.id).done < 1_000:
        assert backfills.wait(0.05) is False, "the run ended before the outage"  # polling progress, not timing

    proxy.cut()
    assert backfills.wait(60), "the run did not stop during the outage"
    during = checkpoints.progress(run.id).done
    assert 1_000 <= during < SLOW_ROWS
    assert touched(dbs) == {1: during, 0: ROWS - during}  # the checkpoint is exactly what was done
    assert status_of(dbs, run.id) == "running"  # not paused or failed: an outage is not the job's fault

    proxy.restore()
    deadline = time.monotonic() + 60
    while not state_answers(container, run.id) and time.monotonic() < deadline:
        pass  # the pools reconnect with a short backoff
    backfills.tend(clock.now())  # the next tick after the outage
    assert backfills.wait(120)
    done = backfills.get(run.id)
    assert done is not None and done.status == RunStatus.VERIFIED, done
    assert touched(dbs) == {1: SLOW_ROWS, 0: ROWS - SLOW_ROWS}  # 0 rows missed, 0 done twice
