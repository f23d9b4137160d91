"""The audit row of every tenant a flip enables, written while the flip goes on.

A huge cohort flips in chunks; each chunk's audit rows are written on a thread of their own while the next chunk
flips (the audit trail and the flags live in different databases, so the two run at the same time). Leaving the
``with`` block waits until every row is written, and raises the first error of a write.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from types import TracebackType

from commands.ports import AuditEvent, AuditLog


class ToggleLog:
    def __init__(self, audit: AuditLog, event: AuditEvent, *, at: datetime) -> None:
        self._audit = audit
        self._event = event
        self._at = at
        self._writer: ThreadPoolExecutor | None = None
        self._written: list[Future[None]] = []

    def __enter__(self) -> ToggleLog:
        return self

    def log(self, tenants: Sequence[str]) -> None:
        """Write one audit row per tenant (``event`` with the tenant as subject), in the background, in order."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zdm-toggle-log")
        # the caller's context goes along: a write by a worker holding leases still proves them (see FencedPool)
        context = contextvars.copy_context()
        self._written.append(
            self._writer.submit(context.run, self._audit.record_each, self._event, tuple(tenants), at=self._at)
        )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._writer is None:
            return
        self._writer.shutdown(wait=True)  # the toggles already made are logged even when the flip raised
        if error is None:
            for written in self._written:
                written.result()
