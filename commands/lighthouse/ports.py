"""What the Lighthouse stage needs from the outside: the ingested runs (shared ports are in ``commands.ports``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from commands.lighthouse.report import Report, Ticketed


class LighthouseRuns(Protocol):
    """Ingested Lighthouse reports in the bot's state database."""

    def previous(self, page: str, *, before: datetime) -> Report | None:
        """The newest recorded run of ``page`` fetched before ``before``."""
        ...

    def record(
        self, report: Report, *, archive_path: str, sha256: str, at: datetime, tickets: Sequence[Ticketed]
    ) -> bool:
        """Store the run (once per page and fetch time) with its drops; False when it was already recorded."""
        ...

    def known(self, report: Report) -> bool:
        """Whether this page's run of this fetch time was ingested before."""
        ...

    def exclusive(self) -> AbstractContextManager[bool]:
        """One ingester at a time across replicas (try-lock)."""
        ...
