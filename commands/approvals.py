"""Two-role approvals shared by every stage that needs them (schema deploys, destructive cleanups).

Pure: given the approvals so far, who asked and who clicks, return the new approvals or raise a ``UserError``
whose sentence says why not. The requester never approves, nobody approves twice, and each required role is
filled by a different person.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from commands.errors import UserError

DBA_AND_LEAD = ("dba", "platform_lead")


@dataclass(frozen=True)
class Approval:
    role: str
    user: str
    at: datetime


def approver(approvals: tuple[Approval, ...], role: str) -> Approval | None:
    return next((a for a in approvals if a.role == role), None)


def fully_approved(approvals: tuple[Approval, ...], required: tuple[str, ...] = DBA_AND_LEAD) -> bool:
    return {a.role for a in approvals} >= set(required)


def add_approval(
    approvals: tuple[Approval, ...],
    *,
    subject: str,
    requester: str,
    user: str,
    roles: Collection[str],
    now: datetime,
    required: tuple[str, ...] = DBA_AND_LEAD,
) -> tuple[Approval, ...]:
    """``approvals`` plus ``user``'s approval in the first open role they hold (``roles``: the roles they have).

    ``subject`` names what is approved in the sentences, e.g. "schema deploy #3"."""
    if user == requester:
        wanted = " and ".join(f"a `{r}`" for r in required)
        raise UserError(f"You requested {subject}, so you cannot approve it; ask {wanted}.")
    if any(a.user == user for a in approvals):
        raise UserError(f"You already approved {subject}; its other approval must come from someone else.")
    open_roles = [r for r in required if approver(approvals, r) is None and r in roles]
    if not open_roles:
        missing = [r for r in required if approver(approvals, r) is None]
        needed = " or ".join(f"`{r}`" for r in missing)
        raise UserError(
            f"{subject[:1].upper()}{subject[1:]} still needs approval from {needed}, and you are not in that role; "
            "ask someone who is."
        )
    return (*approvals, Approval(open_roles[0], user, now))
