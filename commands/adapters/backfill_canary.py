"""The throttle's readings from the target database: the canary's beat, replica lag, active sessions.

The canary is a tiny transaction on its own connection, every few milliseconds: a point read of a random key of
the table being backfilled (it feels what the backfill does to that table's cache and I/O) and a one-row commit in
``zdm_backfill.canary_slots`` (it feels the WAL the batches write). Each beat updates the next of ``SLOTS`` rows,
as an application's writes spread over many rows: 100 updates a second of one row (``zdm_backfill.canary``, the
first design) grew a chain of dead versions that the beats then paid for, and the canary read 2.6–3.6× its
baseline while the application's own writer on the bench read 1.1–1.2×. It stands for the live application's own
requests, so its latency is what the backfill must not spoil; it never writes to the application's tables. (A ``for key
share`` lock of the random row instead of the read, tried once on the bench, held the backfill near the runbook's
own speed; not understood yet, so not used.)
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

import psycopg
from psycopg import sql

from commands.backfill.ports import Probe

log = logging.getLogger(__name__)
LAG_SQL = (
    "select max(extract(epoch from coalesce(replay_lag, '0'::interval)))::float8 from pg_stat_replication"
    " where application_name = any(%(replicas)s)"
)
SESSIONS_SQL = (
    "select count(*) from pg_stat_activity where state = 'active' and backend_type = 'client backend'"
    " and pid <> pg_backend_pid() and application_name not like 'zdm-backfill%%'"
)


SLOTS = 1000
BEAT = (
    "update zdm_backfill.canary_slots set beats = beats + 1, beat_at = now() where run_id = %(run)s and slot = %(slot)s"
)


def beat_sql(probe: Probe | None) -> sql.Composed | sql.SQL:
    if probe is None:
        return sql.SQL(BEAT)
    schema, table = probe.table.split(".", 1)
    read = sql.SQL("select count(*) from {t} where {k} = %(probe)s").format(
        t=sql.Identifier(schema, table), k=sql.Identifier(probe.key)
    )
    return sql.SQL("{beat} and ({read}) >= 0").format(beat=sql.SQL(BEAT), read=read)


class Canary(threading.Thread):
    """Beats until stopped (its table is created by ``PgCheckpoints.prepare``); ``p95_ms(window_s)`` is the
    rolling p95 of the beats in the last ``window_s``."""

    def __init__(
        self,
        url: str,
        *,
        run_id: int,
        every_ms: int,
        probe: Probe | None = None,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name=f"zdm-canary-{run_id}", daemon=True)
        self._url, self._run_id, self._every, self._probe = url, run_id, every_ms / 1000, probe
        self._busy = busy or (lambda: False)
        self._beats: deque[tuple[float, float, bool]] = deque(maxlen=20_000)  # (at, ms, no batch ran meanwhile)
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self._url, autocommit=True, application_name="zdm-backfill-canary") as conn:
                conn.execute(
                    "insert into zdm_backfill.canary_slots (run_id, slot) select %s, slot"
                    " from generate_series(0, %s) slot on conflict do nothing",
                    (self._run_id, SLOTS - 1),
                )
                rng = random.Random(self._run_id)  # noqa: S311 - which row to read, not a secret
                beat, probe, slots = beat_sql(self._probe), self._probe, itertools.cycle(range(SLOTS))
                while not self.stop.is_set():
                    probed = rng.randint(probe.low, probe.high) if probe else 0
                    params = {"run": self._run_id, "slot": next(slots), "probe": probed}
                    quiet = not self._busy()
                    started = time.perf_counter()
                    conn.execute(beat, params)
                    took = time.perf_counter() - started
                    quiet = quiet and not self._busy()
                    with self._lock:
                        self._beats.append((time.monotonic(), took * 1000, quiet))
                    self.stop.wait(max(0.0, self._every - took))
        except Exception as exc:  # the engine sees it (and reads no canary): the throttle then holds its settings
            self.error = exc
            log.warning("backfill canary for run %s stopped: %s", self._run_id, exc)

    def p95_ms(
        self, window_s: float, *, now: float | None = None, min_beats: int = 10, quiet: bool = False
    ) -> float | None:
        """None until there are ``min_beats`` beats in the window (``quiet``: only beats no batch overlapped)."""
        since = (time.monotonic() if now is None else now) - window_s
        with self._lock:
            recent = list(itertools.takewhile(lambda beat: beat[0] >= since, reversed(self._beats)))
        ordered = sorted(ms for _, ms, alone in recent if alone or not quiet)  # only the window, newest first
        if len(ordered) < min_beats:
            return None
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def halt(self) -> None:
        self.stop.set()
        self.join(5)
