"""Break-glass's pure rules: the option's reason, and who may confirm or cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commands.breakglass.model import (
    BreakGlass,
    BreakGlassStatus,
    SelfConfirmation,
    Skip,
    cancelled,
    confirmed,
    split_break_glass,
)
from commands.errors import StalePrompt, UsageError, UserError

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
REQUEST = BreakGlass(
    id=4,
    action="rollout.approve",
    skip=Skip(target="1:0:abc", subject="flag", what="approve step 1", gates=("KPI gate — error_rate: no data",)),
    reason="incident",
    requested_by="U1",
    requested_at=NOW,
    role="platform_lead",
)


@pytest.mark.parametrize(
    ("text", "rest", "reason"),
    [
        ('approve #3 --break-glass "KPI source down"', "approve #3", "KPI source down"),
        ("approve --break-glass “smart   quotes here” ", "approve", "smart quotes here"),
        ("approve --break-glass=it is 3am", "approve", "it is 3am"),
        ("approve #3", "approve #3", None),
    ],
)
def test_the_reason_is_taken_out_of_the_command(text: str, rest: str, reason: str | None) -> None:
    assert split_break_glass(text) == (rest, reason)


@pytest.mark.parametrize("text", ["approve --break-glass", 'approve --break-glass ""', "approve --break-glass ab"])
def test_a_missing_or_empty_reason_is_one_sentence(text: str) -> None:
    with pytest.raises(UsageError, match="needs a reason in quotes"):
        split_break_glass(text)


def test_the_requester_never_confirms_and_the_role_is_required() -> None:
    with pytest.raises(SelfConfirmation, match="You asked for break-glass #4, so you cannot confirm it"):
        confirmed(REQUEST, user="U1", holds_role=True, now=NOW)
    with pytest.raises(UserError, match="Only a `platform_lead` may confirm"):
        confirmed(REQUEST, user="U2", holds_role=False, now=NOW)
    done = confirmed(REQUEST, user="U2", holds_role=True, now=NOW)
    assert (done.status, done.confirmed_by, done.decided_at) == (BreakGlassStatus.CONFIRMED, "U2", NOW)
    with pytest.raises(StalePrompt):
        confirmed(done, user="U3", holds_role=True, now=NOW)


def test_the_requester_or_a_role_holder_may_cancel() -> None:
    assert cancelled(REQUEST, user="U1", holds_role=False, now=NOW).status is BreakGlassStatus.CANCELLED
    assert cancelled(REQUEST, user="U2", holds_role=True, now=NOW).confirmed_by == "U2"
    with pytest.raises(UserError, match="may cancel"):
        cancelled(REQUEST, user="U3", holds_role=False, now=NOW)
