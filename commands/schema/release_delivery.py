"""The release issue's "DB Changes" line, durable first and delivered second.

A deploy stores its line in the state database's outbox when it is applied (readable with ``/zdm log``); the outbox
job delivers it to the release issue: GitHub replaces the whole body on PATCH, so delivery reads the body, upserts
the line by its globally unique marker and writes it back. Delivering twice leaves one line; a GitHub outage delays
the line and loses nothing, and the deploy card says "recorded; DB Changes in release issue #N" once it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from uuid import uuid4

from commands.errors import UserError
from commands.outbox.model import OutboxEntry, entry_marker
from commands.outbox.ports import Destination
from commands.ports import IssueTracker
from commands.schema.release_record import upsert_entry

log = logging.getLogger(__name__)
ISSUE_PATH = "release-issue:"  # an outbox entry's path for the release issue: "release-issue:owner/repo#12"
SUBJECT = "schema-deploy:"
LOCK_WAIT_S = 30

Exclusive = Callable[..., AbstractContextManager[bool]]  # SchemaDeploys.exclusive(name, wait_s=…)


def release_entry(*, release: str, section: str, deploy_id: int, env: str, line: str, now: datetime) -> OutboxEntry:
    """The outbox entry for one deploy's line under ``section`` of ``release`` ("owner/repo#12")."""
    return OutboxEntry(
        marker=entry_marker("dbchanges", uuid4().hex),
        path=f"{ISSUE_PATH}{release}",
        title=f"{section}: schema deploy #{deploy_id} to `{env}`",
        text=line,
        created_at=now,
        heading=section,
        subject=f"{SUBJECT}{deploy_id}",
        next_attempt_at=now,
    )


def deploy_of(entry: OutboxEntry) -> int | None:
    """The schema deploy an outbox entry records (None: not a release-issue line)."""
    subject = entry.subject or ""
    rest = subject[len(SUBJECT) :]
    return int(rest) if subject.startswith(SUBJECT) and rest.isdigit() else None


class ReleaseIssueDestination:
    """A ``Destination``: release-issue lines go to the GitHub issue, every other entry to ``others``."""

    def __init__(self, *, others: Destination, issues: IssueTracker | None, exclusive: Exclusive) -> None:
        self._others = others
        self._issues = issues
        self._exclusive = exclusive

    def deliver(self, entry: OutboxEntry) -> str:
        if not entry.path.startswith(ISSUE_PATH):
            return self._others.deliver(entry)
        release = entry.path[len(ISSUE_PATH) :]
        repo, _, number = release.partition("#")
        if self._issues is None or not number.isdigit():
            raise UserError(f"release issue {release} cannot be written: no GitHub configured for zdm")
        tag = entry.marker.removeprefix("<!-- zdm:").removesuffix(" -->")
        # GitHub replaces the whole body: two lines for one issue must not read-edit-write it at once
        with self._exclusive(f"release-issue {release}", wait_s=LOCK_WAIT_S) as held:
            if not held:
                raise UserError(f"another zdm worker kept release issue {release} busy for {LOCK_WAIT_S} s")
            body = self._issues.read_body(repo, int(number))
            updated = upsert_entry(body, section=entry.heading or "DB Changes", marker=tag, entry=entry.text)
            if updated != body:
                self._issues.write_body(repo, int(number), updated)
        return f"{entry.heading or 'DB Changes'} in release issue #{number}"

    def describe(self) -> str:
        return self._others.describe()
