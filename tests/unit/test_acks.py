"""Acks first: work handed off after an ack starts once the Slack requests being answered are out."""

from __future__ import annotations

import threading

import pytest

from bot.acks import AcksInFlight


def test_work_after_an_ack_waits_until_the_answer_is_written() -> None:
    acks, started = AcksInFlight(), threading.Event()
    body = acks.answer(lambda: [b"ok"])
    work = threading.Thread(target=acks.after(started.set))
    work.start()
    assert not started.wait(0.05)  # the answer is still being written
    assert list(body) == [b"ok"]
    body.close()  # WSGI servers close the body once it is written
    work.join(5)
    assert started.is_set()


def test_a_steady_stream_of_requests_does_not_starve_the_work() -> None:
    acks = AcksInFlight()
    acks.answer(lambda: [b"never closed"])
    assert not acks.wait_clear(0.01)
    assert acks.after(lambda: "ran anyway")() == "ran anyway"  # after at most ACKS_FIRST_S


def test_closing_twice_counts_once_and_a_failed_answer_is_not_counted() -> None:
    acks = AcksInFlight()
    body = acks.answer(lambda: [b"ok"])
    body.close()
    body.close()

    def failing() -> list[bytes]:
        raise RuntimeError("bolt failed")

    with pytest.raises(RuntimeError):
        acks.answer(failing)
    assert acks.wait_clear(0.01)
