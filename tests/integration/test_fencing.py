"""Fenced leases on real Postgres: a lock survives a killed connection, a holder whose lease was taken over cannot
write or post, and a takeover waits for a write the old holder has in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from commands.adapters.locks import FencedNotifier, FencedPool, PgLocks, lease_name
from commands.cards import Card
from commands.errors import LockLost
from tests.conftest import Databases
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import MemoryNotifier

KEY = (0x7A64, 42)
POOL: dict[str, Any] = {"kwargs": {"autocommit": True}, "check": FencedPool.check_connection}  # as bot.bootstrap


@pytest.fixture
def pool(dbs: Databases) -> Iterator[FencedPool]:
    with FencedPool(dbs.state_url, min_size=1, max_size=4, **POOL) as p:
        yield p


@pytest.fixture
def locks(dbs: Databases) -> Iterator[PgLocks]:
    held = PgLocks(dbs.state_url)
    yield held
    held.close()


@pytest.fixture
def replica(dbs: Databases) -> Iterator[PgLocks]:
    """A second replica's locks on the same state database."""
    other = PgLocks(dbs.state_url)
    yield other
    other.close()


@pytest.fixture
def notes(dbs: Databases) -> None:
    with dbs.state() as conn:
        conn.execute("create table public.notes (id serial primary key, by text not null)")


def write_note(pool: FencedPool, by: str) -> None:
    with pool.connection() as conn:
        conn.execute("insert into public.notes (by) values (%s)", (by,))


def notes_by(dbs: Databases) -> list[str]:
    with dbs.state() as conn:
        return [r[0] for r in conn.execute("select by from public.notes order by id")]


def expire(dbs: Databases) -> None:
    """What a holder frozen longer than the lease looks like to everyone else: its lease ran out."""
    with dbs.state() as conn:
        conn.execute(
            "update zdm.leases set expires_at = now() - interval '1 second' where name = %s", (lease_name(KEY),)
        )


def take_over(replica: PgLocks, *, then: Any = None) -> bool:
    """Another replica takes the lease in its own thread (leases are per thread) and optionally works under it."""
    got: list[bool] = []

    def work() -> None:
        with replica.hold(KEY) as mine:
            got.append(mine)
            if mine and then is not None:
                then()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    return got == [True]


@pytest.mark.usefixtures("notes")
def test_a_fenced_write_after_losing_the_lease_fails_and_writes_nothing(
    dbs: Databases, pool: FencedPool, locks: PgLocks, replica: PgLocks
) -> None:
    notifier = MemoryNotifier()
    fenced_notifier = FencedNotifier(notifier, locks)
    with locks.hold(KEY) as mine:
        assert mine
        write_note(pool, "first holder")  # proven: its epoch is the row's
        assert not take_over(replica)  # a live lease is not taken
        expire(dbs)
        assert take_over(replica, then=lambda: write_note(pool, "second holder"))
        with pytest.raises(LockLost, match="taken over by another worker"):
            write_note(pool, "first holder, late")
        with pytest.raises(LockLost):
            locks.verify_held()
        with pytest.raises(LockLost):
            fenced_notifier.post("#release", Card(title="late"))
    assert notes_by(dbs) == ["first holder", "second holder"]
    assert notifier.posts == []
    write_note(pool, "nobody holds anything")  # outside a lease, the pool is a plain pool
    with dbs.state() as conn:
        assert conn.execute("select epoch from zdm.leases where name = %s", (lease_name(KEY),)).fetchone()[0] == 2


@pytest.mark.usefixtures("notes")
def test_a_killed_connection_does_not_lose_the_lease(dbs: Databases, proxy: PgOutageProxy, replica: PgLocks) -> None:
    through_proxy = PgLocks(proxy.url)
    with FencedPool(proxy.url, min_size=1, max_size=2, **POOL) as pool:
        try:
            with through_proxy.hold(KEY) as mine:
                assert mine
                proxy.cut()  # every connection of the holder dies, like in a 1 s outage
                proxy.restore()
                assert not take_over(replica)  # the lease does not live on a connection
                write_note(pool, "holder after the outage")  # a fresh connection proves the same epoch
            assert take_over(replica)  # released on exit
        finally:
            through_proxy.close()
    assert notes_by(dbs) == ["holder after the outage"]


@pytest.mark.usefixtures("notes")
def test_a_takeover_waits_for_the_old_holders_write_in_flight(
    dbs: Databases, pool: FencedPool, locks: PgLocks, replica: PgLocks
) -> None:
    with locks.hold(KEY):
        expire(dbs)  # the holder stalled past its lease, but nobody took it: its writes still land
        with pool.connection() as conn:
            conn.execute("insert into public.notes (by) values ('in flight')")  # the lease row is locked FOR SHARE
            with psycopg.connect(dbs.state_url, autocommit=True) as other:
                other.execute("set lock_timeout = '200ms'")
                with pytest.raises(psycopg.errors.LockNotAvailable):  # a takeover must wait for the write
                    other.execute(
                        "insert into zdm.leases as l (name, epoch, expires_at) values (%s, 1, now())"
                        " on conflict (name) do update set epoch = l.epoch + 1 where l.expires_at <= now()",
                        (lease_name(KEY),),
                    )
    assert take_over(replica)  # once the write committed and the lease was released
    assert notes_by(dbs) == ["in flight"]


def test_threads_of_one_process_racing_for_a_lease_get_it_once(locks: PgLocks) -> None:
    contenders = 8
    start, losers_done = threading.Barrier(contenders), threading.Semaphore(0)
    results: list[bool] = []

    def contend() -> None:
        start.wait()
        with locks.hold(KEY) as mine:
            results.append(mine)
            if mine:  # keep it until every other thread has tried
                for _ in range(contenders - 1):
                    assert losers_done.acquire(timeout=30)
            else:
                losers_done.release()

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [False] * (contenders - 1) + [True]
