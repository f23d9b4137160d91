"""Break-glass as pure rules: parsing ``--break-glass "<reason>"``, the record, and who may confirm it.

A break-glass names exactly which gates it skips (computed when asked) and why. Nothing runs until a second person
holding the configured role confirms it on its card; the person who asked can never confirm their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from commands.cli.grammar import Apart
from commands.errors import StalePrompt, UsageError, UserError

FLAG = "--break-glass"
REASON_SHOWN = '"<reason>"'
EXAMPLE = "KPI source down during incident"
USED = "breakglass.used"  # the audit action of a confirmed break-glass (the release notes list these)
QUOTED = re.compile(r"""--break-glass(?:=|\s+)(?:"(?P<dq>[^"]*)"|“(?P<cq>[^”]*)”|'(?P<sq>[^']*)'|(?P<bare>.*))""", re.S)
MIN_REASON = 3
MAX_REASON = 300


class BreakGlassStatus(Enum):
    AWAITING = "awaiting"  # a second person must confirm
    CONFIRMED = "confirmed"  # confirmed, the action is running
    DONE = "done"
    FAILED = "failed"  # confirmed, but the action refused or failed (its sentence is the outcome)
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Skip:
    """What a gated action would do and which gates it would skip, as computed when break-glass is asked."""

    target: str  # what the action runs on (a rollout step's button value, an environment, …)
    subject: str  # the audit subject (the flag, the environment, the release)
    what: str  # "approve step 2 `pilots` of rollout #3"
    gates: tuple[str, ...]  # one sentence per gate skipped


@dataclass(frozen=True)
class BreakGlass:
    id: int
    action: str  # "rollout.approve", …
    skip: Skip
    reason: str
    requested_by: str
    requested_at: datetime
    role: str  # who may confirm
    status: BreakGlassStatus = BreakGlassStatus.AWAITING
    confirmed_by: str | None = None
    decided_at: datetime | None = None
    outcome: str | None = None
    channel: str | None = None
    message_ts: str | None = None


class SelfConfirmation(UserError):
    def __init__(self, *, break_glass_id: int, role: str) -> None:
        super().__init__(
            f"You asked for break-glass #{break_glass_id}, so you cannot confirm it; another `{role}` must."
        )


def break_glass_option(example: str, *, required: bool = False) -> Apart:
    """``--break-glass "<reason>"`` as a gated subcommand declares it (``example``: a reason that fits the stage); the
    caller splits it off with ``split_break_glass`` before parsing."""
    return Apart(FLAG, REASON_SHOWN, f'"{example}"', required=required)


NEEDS_REASON = f'`{FLAG}` needs a reason in quotes, e.g. `{FLAG} "{EXAMPLE}"`.'


def split_break_glass(text: str) -> tuple[str, str | None]:
    """``text`` without ``--break-glass "<reason>"``, and the reason (None when the option is absent)."""
    found = QUOTED.search(text)
    if found is None:
        if FLAG in text:
            raise UsageError(NEEDS_REASON)
        return text, None
    reason = next(v for v in found.group("dq", "cq", "sq", "bare") if v is not None)
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise UsageError(NEEDS_REASON)
    rest = (text[: found.start()] + " " + text[found.end() :]).strip()
    return " ".join(rest.split()), reason[:MAX_REASON]


def confirmed(request: BreakGlass, *, user: str, holds_role: bool, now: datetime) -> BreakGlass:
    """``request`` confirmed by ``user``; raises the sentence that says why not."""
    if request.status is not BreakGlassStatus.AWAITING:
        raise StalePrompt(what=f"break-glass #{request.id} is {request.status.value}")
    if user == request.requested_by:
        raise SelfConfirmation(break_glass_id=request.id, role=request.role)
    if not holds_role:
        raise UserError(
            f"Only a `{request.role}` may confirm break-glass #{request.id}; you are not one, so nothing happened."
        )
    return replace(request, status=BreakGlassStatus.CONFIRMED, confirmed_by=user, decided_at=now)


def cancelled(request: BreakGlass, *, user: str, holds_role: bool, now: datetime) -> BreakGlass:
    if request.status is not BreakGlassStatus.AWAITING:
        raise StalePrompt(what=f"break-glass #{request.id} is {request.status.value}")
    if user != request.requested_by and not holds_role:
        raise UserError(f"Only <@{request.requested_by}> or a `{request.role}` may cancel break-glass #{request.id}.")
    return replace(request, status=BreakGlassStatus.CANCELLED, confirmed_by=user, decided_at=now)


def finished(request: BreakGlass, *, ok: bool, outcome: str) -> BreakGlass:
    status = BreakGlassStatus.DONE if ok else BreakGlassStatus.FAILED
    return replace(request, status=status, outcome=outcome)
