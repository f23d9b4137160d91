"""The outbox's entries and the pure decisions about them: what a file looks like once an entry is delivered, and
when a failed delivery is tried again.

An entry is either *appended once* (a rollback-log entry: skipped only when its own marker is already in the file)
or a *marked block* that replaces the previous block of the same name (release notes). Its marker is globally
unique (a uuid), never a per-database serial: "already in the log" means exactly this entry is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.records.notes import upsert_block

LOG_HEADER = "# Rollback log\n\nEntries are appended by zdm; fill in the remediation tasks by hand.\n\n"
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class OutboxEntry:
    marker: str
    path: str  # relative to the repository root
    title: str
    text: str
    created_at: datetime
    block: str | None = None  # None: append once; "profiles": replace the `<!-- zdm:notes:profiles -->` block
    heading: str | None = None
    subject: str | None = None  # e.g. "rollback:12"
    id: str = ""  # the store's uuid
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    delivered_to: str | None = None
    last_error: str | None = None

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def state(self) -> str:
        """One phrase for ``/zdm log`` and the cards."""
        if self.delivered_at is not None:
            return self.delivered_to or "delivered"
        if self.attempts == 0:
            return "delivery pending"
        when = f"{self.next_attempt_at:%H:%M:%S} UTC" if self.next_attempt_at else "soon"
        return f"delivery pending after {self.attempts} attempt(s): {self.last_error}; next try {when}"


def entry_marker(kind: str, uid: str) -> str:
    """``<!-- zdm:<kind>:<uid> -->``: the line that identifies one entry in any file, from any state database."""
    return f"<!-- zdm:{kind}:{uid} -->"


def retry_at(attempts: int, now: datetime) -> datetime:
    """Exponential backoff after ``attempts`` failed deliveries: 30 s, 1 min, 2 min, … capped at one hour."""
    delay: timedelta = FIRST_RETRY * (2 ** max(0, min(attempts - 1, 20)))
    return now + min(delay, LAST_RETRY)


def apply_entry(current: str, entry: OutboxEntry) -> str:
    """The file's text with ``entry`` delivered; unchanged when the entry's marker is already there."""
    if entry.marker in current:
        return current
    if entry.block is not None:
        lines = [entry.marker, *entry.text.splitlines()]
        return upsert_block(current, release=entry.block, block=lines, heading=entry.heading)
    if not current:
        return LOG_HEADER + entry.text
    separator = "" if current.endswith("\n\n") else "\n" if current.endswith("\n") else "\n\n"
    return current + separator + entry.text


def title_of(text: str, *, fallback: str) -> str:
    """The first markdown heading of an entry, without its hashes (the entry's one-line title)."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()[:200]
    return fallback
