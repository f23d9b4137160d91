"""Turning exceptions into one plain sentence for the person, and a log line with a reference for us."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.acks import AcksInFlight
from bot.executor import ONCALL
from bot.lanes import LaneWork
from bot.listeners.screening import InputScreen
from bot.logs import bound_ref, current_ref, new_ref
from commands.adapters.pg_errors import connection_lost
from commands.errors import LockLost, UserError

log = logging.getLogger("zdm.errors")


def request_ref() -> str:
    """The reference of the Slack request being handled (set as it arrived, see ``bot.app``), else a new one."""
    return current_ref() or new_ref()


def database_down(exc: BaseException) -> bool:
    """The database did not answer (down, restarting, unreachable), as opposed to a bug or a bad query."""
    return connection_lost(exc)


def unavailable_text(ref: str, *, after_ack: bool = False) -> str:
    if after_ack:
        return (
            f"zdm lost its database while working on this (ref {ref}); its progress so far is kept and the release "
            "channel shows where it stopped. zdm keeps retrying the connection; try again in a minute."
        )
    return f"The database is unavailable, retrying (ref {ref}); nothing was changed. Try again in a minute."


def failure_text(exc: BaseException, ref: str, *, after_ack: bool = False) -> str:
    """What the person sees for an exception that is not a ``UserError``."""
    if isinstance(exc, LockLost):  # this worker stalled past its lease; the one that took over carries on
        return (
            f"Another zdm worker took over this work (ref {ref}) and carries it on; the release channel shows its "
            "progress. Nothing needs to be started again."
        )
    if database_down(exc):
        return unavailable_text(ref, after_ack=after_ack)
    return internal_error_text(ref, after_ack=after_ack)


def internal_error_text(ref: str, *, after_ack: bool = False) -> str:
    if after_ack:
        return (
            f"zdm hit an internal error (ref {ref}) while working on this; its progress so far is kept and the "
            "release channel shows where it stopped. Tell the zdm maintainers this ref."
        )
    return f"zdm hit an internal error (ref {ref}); nothing was changed. Tell the zdm maintainers this ref."


def run_guarded(work: Callable[[], object], *, respond: Respond, ref: str | None = None) -> None:
    """Run work after the ack. A sentence it returns is sent to the person; a ``UserError`` is shown as is,
    anything else as an internal error with a ref."""
    ref = ref or request_ref()
    with bound_ref(ref):
        try:
            result = work()
            if isinstance(result, str) and result:
                _respond(respond, result)
        except UserError as exc:
            _respond(respond, str(exc))
        except Exception as exc:
            log.exception("internal error (ref %s)", ref)
            _respond(respond, failure_text(exc, ref, after_ack=True))


class AfterAck:
    """Runs work after Slack's ack on the bot's worker pool.

    The app runs listeners with ``process_before_response=True``: Bolt answers Slack as soon as a listener
    returns, instead of polling for the ack every 10 ms from another thread. Anything slow is handed to this.
    """

    def __init__(self, executor: Executor, screen: InputScreen, acks: AcksInFlight | None = None) -> None:
        self._executor = executor
        self.screen = screen
        self._acks = acks or AcksInFlight()  # nobody counts: nothing waits

    def __call__(
        self, work: Callable[[], object], *, respond: Respond, ref: str | None = None, lane: str | None = None
    ) -> None:
        """Run ``work`` after the ack: on its lane (``LaneWork``'s, else ``lane``: see ``bot.lanes``) when the
        executor has lanes, else on the shared workers; once the acks in flight are out (``bot.acks``), except a
        rollback's."""
        lane = work.lane if isinstance(work, LaneWork) else lane
        if lane != ONCALL:
            work = self._acks.after(work)
        submit_to = getattr(self._executor, "submit_to", None)
        if lane is not None and submit_to is not None:
            submit_to(lane, run_guarded, work, respond=respond, ref=ref or current_ref())
            return
        self._executor.submit(run_guarded, work, respond=respond, ref=ref or current_ref())

    def submit(self, work: Callable[[], object]) -> None:
        """Work that reports its own outcome (no response URL, e.g. after a dialog)."""
        self._executor.submit(_logged, self._acks.after(work), current_ref())

    def button(self, app: App, action_id: str, decide: Callable[..., object]) -> None:
        """A button that acks at once, then calls ``decide(value=<button value>, actor=<user id>)`` after the ack;
        the sentence it returns (or its ``UserError``) goes back to the person who clicked."""

        def listener(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()

            def work() -> object:
                value, user = self.screen.button(body, ref=current_ref())
                return decide(value=value, actor=user)

            self(work, respond=respond)

        app.action(action_id)(listener)


def _logged(work: Callable[[], object], ref: str | None) -> None:
    with bound_ref(ref):
        try:
            work()
        except Exception:
            log.exception("internal error after the ack")


def _respond(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("could not deliver a reply to the user")
