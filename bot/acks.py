"""Acks first: Slack times every request's acknowledgement (3 s) and nobody times the work after it.

The HTTP server counts the Slack requests it is answering (``AcksInFlight.answer``); work handed off after an
ack waits until none is left, at most ``ACKS_FIRST_S``, before it starts: the after-ack work of one command
(building a card, its queries, its post to Slack) would otherwise take the interpreter from the acks of the
commands that arrived with it. (``bench/slack_ack.py`` does not show it: its commands answer entirely in the ack.)
Rollbacks never wait (the ``oncall`` lane): their latency is the one that matters most.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
ACKS_FIRST_S = 0.25  # the longest after-ack work waits for acks: a steady stream of requests must not starve it


class AcksInFlight:
    """How many Slack requests this process is answering now."""

    def __init__(self) -> None:
        self._answering = 0
        self._clear = threading.Condition()

    def answer(self, respond: Callable[[], Iterable[bytes]]) -> CountedBody:
        """``respond()``'s body, the request counted from now until the server has written it (WSGI calls the
        body's ``close``)."""
        with self._clear:
            self._answering += 1
        try:
            body = respond()
        except BaseException:
            self._done()
            raise
        return CountedBody(body, self._done)

    def _done(self) -> None:
        with self._clear:
            self._answering -= 1
            if self._answering == 0:
                self._clear.notify_all()

    def wait_clear(self, timeout: float = ACKS_FIRST_S) -> bool:
        """Block until no request is being answered; False if ``timeout`` passed first."""
        with self._clear:
            return self._clear.wait_for(lambda: self._answering == 0, timeout)

    def after(self, work: Callable[[], T]) -> Callable[[], T]:
        """``work``, started only once the acks in flight are out (or ``ACKS_FIRST_S`` has passed)."""

        def when_acked() -> T:
            self.wait_clear()
            return work()

        return when_acked


def freeze_startup_heap() -> None:
    """Call once everything is built, before serving. What start-up built lives as long as the process; moved out
    of the cyclic garbage collector's sight (``gc.freeze``), a full collection no longer walks it: measured in
    ``bench/slack_ack.py``, one such collection otherwise stopped every thread for 35–55 ms in the middle of acks."""
    gc.collect()
    gc.freeze()


class CountedBody:
    """A WSGI response body that reports when the server is done with it, exactly once."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body, self._done = body, done
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()
