"""A thread pool that knows when it is idle: the shell waits for a command's work before the next prompt,
and graceful shutdown waits for in-flight work.

Besides its own workers it owns one pool per *lane*: ``oncall`` (rollbacks and their buttons: nothing else is ever
submitted there, so a rollback never waits behind other work) and ``heavy`` (schema plans and bootstraps, notes,
archives: a few at a time, see ``bot.lanes.HeavyLane``). Idleness counts the work of every lane.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from bot.acks import AcksInFlight

P = ParamSpec("P")
T = TypeVar("T")
ONCALL = "oncall"
HEAVY = "heavy"


def heavy_workers() -> int:
    """Heavy jobs run at once: one fewer than the cores this process may use (at least 1, at most 4), so a core
    stays free for rollbacks and acks. Two heavy workers on two cores held a loaded rollback's p95 at 2.6–4.2× its
    idle p95 in ``bench/rollback_latency.py``; one held it at 1.4×."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, min(4, cores - 1))


DEFAULT_LANES: Mapping[str, int] = {ONCALL: 4, HEAVY: heavy_workers()}


class TrackingExecutor(ThreadPoolExecutor):
    def __init__(
        self,
        max_workers: int = 16,
        thread_name_prefix: str = "zdm-listener",
        *,
        lanes: Mapping[str, int] = DEFAULT_LANES,
    ) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._in_flight = 0
        self._idle = threading.Condition()
        self.lane_sizes = dict(lanes)
        self.acks = AcksInFlight()  # the server counts its Slack requests here; after-ack work waits for them
        self._lanes = {name: ThreadPoolExecutor(size, thread_name_prefix=f"zdm-{name}") for name, size in lanes.items()}

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._tracked(super().submit, fn, *args, **kwargs)

    def submit_to(self, lane: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run ``fn`` on the lane's own workers (``KeyError`` for a lane this executor does not have)."""
        return self._tracked(self._lanes[lane].submit, fn, *args, **kwargs)

    def _tracked(self, submit: Callable[..., Future[T]], fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        with self._idle:
            self._in_flight += 1
        try:
            future = submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Any) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no submitted work is running or queued; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for lane in self._lanes.values():
            lane.shutdown(wait=wait, cancel_futures=cancel_futures)
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
