"""Routine KPI checks of many rollouts saved together (commands.rollout.watch_batch): the tick's result is the
same as checking one by one, and the compare-and-set save never overwrites a record changed since it was read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from commands.adapters.locks import PgLocks
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.rollout.model import RolloutStatus
from commands.rollout.watch_batch import GatesChecked
from tests.bot.conftest import Cadence, approve
from tests.conftest import APPROVER, BotServer, Databases

M = timedelta(minutes=1)


def test_a_routine_check_is_saved_and_a_record_changed_meanwhile_is_left_alone(
    bot: BotServer, cadence: Cadence, dbs: Databases
) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)
    cadence.at(30 * M)  # healthy traffic: the check passes and only its time is written
    pool: ConnectionPool[Any] = ConnectionPool(
        dbs.state_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True
    )
    locks = PgLocks(dbs.state_url)
    try:
        repo = PgRolloutRepository(pool, locks=locks)
        [rollout] = repo.active()
        assert rollout.status == RolloutStatus.RUNNING
        assert rollout.gates_checked_at == cadence.clock.now()
        [stored] = repo.get_many([rollout.id])
        later = cadence.clock.now() + 10 * M
        repo.save(stored.rollout.noted(later, "changed by another worker"), wake_at=later)  # a new version
        assert repo.save_checked([GatesChecked(stored, later, later + 5 * M)]) == set()
        unchanged = repo.get(rollout.id)
        assert unchanged is not None and unchanged.gates_checked_at == rollout.gates_checked_at
        assert unchanged.history[-1].endswith("changed by another worker")

        [fresh] = repo.get_many([rollout.id])
        assert repo.save_checked([GatesChecked(fresh, later, later + 5 * M)]) == {rollout.id}
        assert repo.get(rollout.id) == replace(fresh.rollout, gates_checked_at=later)  # nothing else moved
        with dbs.state() as conn:
            row = conn.execute("select wake_at from zdm.rollouts where id = %s", (rollout.id,)).fetchone()
        assert row is not None and row[0] == later + 5 * M
    finally:
        locks.close()
        pool.close()
