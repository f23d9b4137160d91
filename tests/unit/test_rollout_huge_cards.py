"""A 100 000-tenant cohort: every card stays within Slack's limits (counts and samples, never the whole list)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from commands.rollout.model import StepState, StepStatus
from commands.rollout.views import prompt_card, root_card, status_card
from tests.unit.test_rollout_model import T0, flipped, rollout

SECTION = 3000  # Slack: characters in one section block's text
COHORT = tuple(f"tenant_{n:06d}" for n in range(100_000))


def test_cards_of_a_huge_cohort_show_counts_and_samples() -> None:
    failed = tuple((slug, "flag service timed out") for slug in COHORT[:2_000])
    done = StepState(
        status=StepStatus.DONE,
        cohort=COHORT,
        enabled=COHORT[2_000:],
        failed=failed,
        held_out=COHORT[:500],
        already_enabled=COHORT[:30_000],
        flipped_at=T0,
        flipped_by="U0B",
    )
    big = replace(flipped(rollout(), 0, T0, COHORT), steps=(done, *rollout().steps[1:]))
    held = {slug: n for n, slug in enumerate(COHORT[:5_000])}
    now = T0 + timedelta(hours=1)
    cards = [
        prompt_card(big, 0, report=None, approvers=["U0A", "U0B"], now=now),
        root_card(big, held=held, now=now),
        status_card(big, held=held, report=None, now=now),
    ]
    for card in cards:
        assert len(card.title) < 200
        assert all(len(line) < SECTION for line in card.lines), max(card.lines, key=len)[:200]
    text = "\n".join(cards[0].lines + cards[1].lines)
    assert "*100000 tenants*" in text and "and 99992 more" in text
    assert "failed for 2000" in text and "and 1995 more" in text
    assert "and 4992 more" in text  # held out after rollbacks: a count beyond the sample
