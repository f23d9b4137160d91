"""Which lane a command's after-ack work runs on, and the admission of heavy work.

Rollback work runs on the ``oncall`` lane, which nothing else can fill. Heavy work (a schema plan or deploy check:
lint and a clean bootstrap in a scratch database; notes; archives; checklists) runs on the ``heavy`` lane, a few at
a time; what cannot start yet waits in line with its position, and a person (or everyone together) who already has
too much in line is told so instead of piling up more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.executor import HEAVY, ONCALL
from commands.errors import UserError

ONCALL_COMMANDS = frozenset({"rollback"})
HEAVY_COMMANDS = frozenset({"schema plan", "schema deploy", "notes", "archive", "checklist", "cleanup"})
PER_USER = 2  # heavy jobs one person may have running or in line
IN_LINE = 20  # heavy jobs running or in line altogether


def lane_for(command: str, args: str) -> str | None:
    """``oncall``, ``heavy`` or None (the shared pool) for ``/zdm <command> <args>``."""
    if command in ONCALL_COMMANDS:
        return ONCALL
    words = args.split(maxsplit=1)
    if command in HEAVY_COMMANDS or (words and f"{command} {words[0].lower()}" in HEAVY_COMMANDS):
        return HEAVY
    return None


class HeavyWorkLimit(UserError):
    def __init__(self, *, user: str, mine: int, total: int) -> None:
        if mine >= PER_USER:
            text = (
                f"You already have {mine} heavy jobs (schema plans, notes, archives, checklists) running or in line; "
                "nothing new was started, try again when one has finished."
            )
        else:
            text = f"zdm already has {total} heavy jobs running or in line; nothing was started, try again shortly."
        super().__init__(text)
        self.user = user


@dataclass(frozen=True)
class LaneWork:
    """After-ack work tagged with its lane; ``release`` frees its heavy-lane place when it is done."""

    lane: str
    work: Callable[[], object]
    release: Callable[[], None] = lambda: None

    def __call__(self) -> object:
        try:
            return self.work()
        finally:
            self.release()


class HeavyLane:
    """Admission to the heavy lane: at most ``per_user`` jobs per person and ``in_line`` altogether, running or
    waiting; ``workers`` of them run at once (the executor's ``heavy`` lane size)."""

    def __init__(self, *, workers: int, per_user: int = PER_USER, in_line: int = IN_LINE) -> None:
        self._workers = workers
        self._per_user = per_user
        self._in_line = in_line
        self._mine: dict[str, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def admit(self, user: str, work: Callable[[], object]) -> tuple[LaneWork, int]:
        """``work`` wrapped for the heavy lane, and its place in line (0: it starts at once); ``HeavyWorkLimit``
        when ``user`` or everyone together has too much running or waiting."""
        with self._lock:
            mine = self._mine.get(user, 0)
            if mine >= self._per_user or self._total >= self._in_line:
                raise HeavyWorkLimit(user=user, mine=mine, total=self._total)
            self._mine[user] = mine + 1
            self._total += 1
            position = max(0, self._total - self._workers)

        def release() -> None:
            with self._lock:
                self._mine[user] -= 1
                if not self._mine[user]:
                    del self._mine[user]
                self._total -= 1

        return LaneWork(HEAVY, work, release), position
