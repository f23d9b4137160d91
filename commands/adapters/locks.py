"""Cross-process locks on one record (a rollback, a rollout, a backfill run, a deploy, the alert evaluator), shared
by every replica through Postgres, and the fencing that makes a lost lock fail to write.

A lock is a lease: a row of ``zdm.leases`` with an ``epoch`` that every new holder bumps, and an expiry that the
holder's process renews in the background. A lease does not live on a connection, so a short outage of the state
database (a connection killed for a second) does not lose it; a holder that died stops renewing, and its lease
can be taken over once it expired.

Fencing: while a thread holds leases, every connection it takes from the state database's ``FencedPool`` runs in
one transaction that first locks those lease rows ``FOR SHARE`` and checks their epochs. A takeover (which
updates the row) waits for such a transaction, and after a takeover the old holder's next write raises
``LockLost`` instead of landing. ``verify_held`` is the same proof before an effect outside the database (a Slack
post, a command).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from commands.adapters.pool_check import check_without_round_trip
from commands.cards import Card, MessageRef
from commands.errors import LockLost
from commands.ports import Notifier

log = logging.getLogger(__name__)
LEASE_S = 10.0  # without a renewal for this long, a lease's holder is taken to be dead
POLL_S = 0.05  # first pause between attempts while waiting for a held lease


@dataclass(eq=False)
class Lease:
    """One held lock: its row name and the epoch this holder got."""

    name: str
    epoch: int
    lost: bool = field(default=False)  # set by the renewer when the row's epoch moved on


_HELD: ContextVar[tuple[Lease, ...]] = ContextVar("zdm_held_leases", default=())


def held_leases() -> tuple[Lease, ...]:
    """The leases the current thread holds (innermost last)."""
    return _HELD.get()


def lease_name(key: tuple[int, int]) -> str:
    return f"{key[0]:x}:{key[1]}"


def prove(conn: psycopg.Connection[Any], leases: Sequence[Lease]) -> None:
    """Inside the caller's transaction: lock the lease rows ``FOR SHARE`` and raise ``LockLost`` unless each still
    has this holder's epoch. The row lock keeps a takeover out until the transaction ends."""
    for lease in leases:
        if lease.lost:
            raise LockLost(lock=lease.name)
    rows = conn.execute(
        "select name, epoch from zdm.leases where name = any(%s) for share", ([lease.name for lease in leases],)
    ).fetchall()
    epochs = {str(r[0]): int(r[1]) for r in rows}
    for lease in leases:
        if epochs.get(lease.name) != lease.epoch:
            lease.lost = True
            raise LockLost(lock=lease.name)


class FencedPool(ConnectionPool[Any]):
    """The state database's pool. A thread holding leases gets its connection inside a transaction that proves
    them first (see the module docstring); every other use is a plain pooled connection."""

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Any]:
        leases = held_leases()
        with super().connection(timeout=timeout) as conn:
            if not leases:
                yield conn
                return
            with conn.transaction():
                prove(conn, leases)
                yield conn


_READ_WAIT_S: ContextVar[float | None] = ContextVar("zdm_read_wait_s", default=None)


@contextmanager
def bounded_reads(wait_s: float) -> Iterator[None]:
    """Within the block, ``reading`` waits at most ``wait_s`` for a connection (answers due before Slack's ack)."""
    token = _READ_WAIT_S.set(wait_s)
    try:
        yield
    finally:
        _READ_WAIT_S.reset(token)


@contextmanager
def reading(pool: ConnectionPool[Any], timeout: float | None = None) -> Iterator[Any]:
    """A connection for one read that changes nothing: no lease proof around it (a read has no effect a lost lease
    must stop, and proving costs three round trips). Any write still goes through ``pool.connection()``."""
    timeout = timeout if timeout is not None else _READ_WAIT_S.get()
    if isinstance(pool, FencedPool):
        with ConnectionPool.connection(pool, timeout=timeout) as conn:
            yield conn
    else:
        with pool.connection(timeout=timeout) as conn:
            yield conn


class PgLocks:
    """Leases in ``zdm.leases``, taken, renewed and released on a small pool of their own.

    ``hold`` yields False when another live holder has the lease. While it yields True the lease is renewed every
    third of ``lease_s`` by one background thread; an outage shorter than about two thirds of ``lease_s`` loses
    nothing. Releasing never raises: if the database is away, the lease simply expires.
    """

    def __init__(self, url: str, *, max_size: int = 4, connect_wait_s: float = 5.0, lease_s: float = LEASE_S) -> None:
        # how long `hold` waits for a session: bounded, so a database outage fails fast instead of stalling a tick
        self._connect_wait_s = connect_wait_s
        self._lease_s = lease_s
        # this instance's name in the rows it holds: a lease it failed to release (the database was away) is its own
        # to take again at once, as no thread of this process is inside `hold` for it any more
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            name="zdm-locks",
            open=False,
            kwargs={"autocommit": True},
            check=check_without_round_trip,  # no extra round trip per lease taken or released
        )
        self._pool.open(wait=True, timeout=30)
        self._held: set[Lease] = set()
        self._guard = threading.Lock()
        self._acquiring = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def close(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self._connect_wait_s + 1)
        self._pool.close()

    @contextmanager
    def hold(self, key: tuple[int, int], *, wait_s: float = 0) -> Iterator[bool]:
        """Hold the lease on ``key`` for the ``with`` block; yields False if another live holder has it. Inside,
        the state database's ``FencedPool`` proves the lease on every use (see the module docstring)."""
        lease = self._acquire(lease_name(key), wait_s)
        if lease is None:
            yield False
            return
        self._start_renewer()
        token = _HELD.set((*_HELD.get(), lease))
        try:
            yield True
        finally:
            _HELD.reset(token)
            with self._guard:
                self._held.discard(lease)
            self._release(lease)

    def verify_held(self) -> None:
        """Raise ``LockLost`` unless every lease this thread holds is still its own (before an outside effect)."""
        leases = held_leases()
        if leases:
            with self._pool.connection(timeout=self._connect_wait_s) as conn, conn.transaction():
                prove(conn, leases)

    def _acquire(self, name: str, wait_s: float) -> Lease | None:
        deadline = time.monotonic() + max(wait_s, 0)
        pause = POLL_S
        while True:
            with self._acquiring:  # one thread of this process at a time: the check and the take are one step
                with self._guard:
                    mine_elsewhere = any(lease.name == name for lease in self._held)  # another thread of ours has it
                row = None if mine_elsewhere else self._try_acquire(name, timeout=self._connect_wait_s + max(wait_s, 0))
                if row is not None:
                    lease = Lease(name, int(row[0]))
                    with self._guard:
                        self._held.add(lease)
                    return lease
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.5)

    def _try_acquire(self, name: str, *, timeout: float) -> Any:
        with self._pool.connection(timeout=timeout) as conn:
            return conn.execute(
                "insert into zdm.leases as l (name, epoch, holder, expires_at)"
                " values (%(name)s, 1, %(me)s, clock_timestamp() + make_interval(secs => %(ttl)s))"
                " on conflict (name) do update set epoch = l.epoch + 1, holder = excluded.holder,"
                " expires_at = excluded.expires_at where l.expires_at <= clock_timestamp() or l.holder = %(me)s"
                " returning epoch",
                {"name": name, "me": self._holder, "ttl": self._lease_s},
            ).fetchone()

    def _release(self, lease: Lease) -> None:
        try:  # briefly: when the database is away the lease runs out by itself, or this process takes it back
            with self._pool.connection(timeout=min(self._connect_wait_s, 1.0)) as conn:
                conn.execute(
                    "update zdm.leases set expires_at = '-infinity', holder = null where name = %s and epoch = %s",
                    (lease.name, lease.epoch),
                )
        except Exception:  # the lease expires by itself; the work it guarded is already done
            log.warning("could not release lease %s (it expires within %g s)", lease.name, self._lease_s, exc_info=True)

    def _start_renewer(self) -> None:
        with self._guard:
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_forever, name="zdm-lease-renewer", daemon=True)
                self._renewer.start()

    def _renew_forever(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            with self._guard:
                leases = list(self._held)
            for lease in leases:
                self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        try:
            with self._pool.connection(timeout=self._connect_wait_s) as conn:
                # holder: a lease released since the snapshot of held leases is not renewed (it would look held)
                cur = conn.execute(
                    "update zdm.leases set expires_at = clock_timestamp() + make_interval(secs => %s)"
                    " where name = %s and epoch = %s and holder = %s",
                    (self._lease_s, lease.name, lease.epoch, self._holder),
                )
                with self._guard:
                    released = lease not in self._held
                if cur.rowcount == 0 and not released:
                    lease.lost = True
                    log.warning("lease %s was taken over; its holder's writes now fail", lease.name)
        except Exception:  # an outage: try again next period, the lease outlives a short one
            log.warning("could not renew lease %s", lease.name, exc_info=True)


class FencedNotifier:
    """A ``Notifier`` whose posts and updates first prove the current thread's leases: a worker that lost its lock
    does not post either."""

    def __init__(self, inner: Notifier, locks: PgLocks) -> None:
        self._inner = inner
        self._locks = locks

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        self._locks.verify_held()
        return self._inner.post(channel, card, thread_ts=thread_ts)

    def update(self, ref: MessageRef, card: Card) -> None:
        self._locks.verify_held()
        self._inner.update(ref, card)
