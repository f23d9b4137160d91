"""Graceful shutdown of ``zdm serve`` (SIGTERM): stop taking work, finish what is in flight, within a deadline.

1. ``/readyz`` answers 503 (the load balancer stops sending traffic here);
2. running backfills are told to halt: their current batches commit with their checkpoints and the runs stay
   *running*, so another replica (its scheduler) or the next start continues from the checkpoint;
3. the HTTP listener closes after answering the requests it is serving (Socket Mode: the connection closes);
4. the scheduler stops after its current tick; work started after Slack acks finishes;
5. the backfill threads end, and the pools and connections are closed; child processes still running (smoke
   tests, flag CLI, squawk, each in its own process group) are killed with their descendants.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.bootstrap import Container
from bot.executor import TrackingExecutor
from scheduler.runner import Metronome

log = logging.getLogger(__name__)


def drain(
    *,
    container: Container,
    executor: TrackingExecutor,
    metronome: Metronome,
    close_transport: Callable[[], None],
    grace_s: float,
) -> bool:
    """True when everything stopped within ``grace_s``."""
    deadline = time.monotonic() + grace_s

    def left() -> float:
        return max(deadline - time.monotonic(), 0.0)

    if container.readiness is not None:
        container.readiness.draining.set()
    backfills = container.services.backfills
    backfills.halt()
    steps_done = [
        _within(left(), close_transport, "closing the listener"),
        _within(left(), metronome.shutdown, "stopping the scheduler"),
    ]
    idle = executor.wait_idle(left())
    if not idle:
        log.warning("work started after Slack acks is still running")
        container.children.kill_all()  # its smoke tests and CLIs end with the grace period, not after it
    executor.shutdown(wait=False)
    stopped = backfills.wait(left())
    if not stopped:
        log.warning("a backfill batch is still running")
    closed = _within(left(), lambda: container.close(timeout=left()), "closing connections")
    return all(steps_done) and idle and stopped and closed and time.monotonic() <= deadline


def _within(timeout: float, step: Callable[[], None], what: str) -> bool:
    """Run ``step`` on a helper thread and wait at most ``timeout`` for it."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except Exception as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"shutdown: {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.warning("shutdown: %s did not finish in time", what)
        return False
    if failed:
        log.warning("shutdown: %s failed: %s", what, failed[0])
    return True
