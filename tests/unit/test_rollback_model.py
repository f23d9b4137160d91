from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.errors import InvalidSlug, UsageError
from commands.rollback.args import parse_rollback_args
from commands.rollback.model import (
    SLUG,
    Rollback,
    RollbackRequest,
    RollbackStatus,
    Step,
    StepResult,
    StepStatus,
    initial_steps,
    needs_schema_prompt,
    next_step,
    overall_status,
    recover_interrupted,
)
from commands.rollback.views import log_entry, marker, rollback_card

NOW = datetime(2026, 11, 25, 14, 2, tzinfo=UTC)
slugs = st.from_regex(SLUG, fullmatch=True)


def make(request: RollbackRequest) -> Rollback:
    return Rollback(
        id=7, tenant=request.slug, flag="tenant.enableNewProfile", requested_by="U1", reason=request.reason,
        schema_version=request.schema_version, schema_file="1_x_rollback.sql" if request.schema_version else None,
        created_at=NOW, steps=initial_steps(request),
    )  # fmt: skip


def finish(rollback: Rollback, step: Step, status: StepStatus = StepStatus.OK) -> Rollback:
    return rollback.with_step(StepResult(step, status, "done", NOW))


@given(slugs, st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), max_size=5))
def test_any_valid_slug_and_reason_parse(slug: str, words: list[str]) -> None:
    request = parse_rollback_args(" ".join(["tenant", slug, *words]))
    assert request.slug == slug
    assert request.reason == (" ".join(words) or "(no reason given)")
    assert request.schema_version is None


@given(st.text(min_size=1, max_size=70).filter(lambda s: not SLUG.match(s) and s.strip() == s and " " not in s))
def test_anything_else_is_not_a_slug(slug: str) -> None:
    with pytest.raises((InvalidSlug, UsageError)):
        parse_rollback_args(f"tenant '{slug}'")


def test_schema_flag_in_both_spellings_and_quoted_reason() -> None:
    assert parse_rollback_args('tenant pilot_a --schema 2025 "checkout errors"') == RollbackRequest(
        "pilot_a", "checkout errors", "2025"
    )
    assert parse_rollback_args("tenant pilot_a --schema=2025").schema_version == "2025"
    with pytest.raises(UsageError):
        parse_rollback_args("tenant pilot_a --schema")
    with pytest.raises(UsageError):
        parse_rollback_args("tenant pilot_a " + "x" * 600)
    with pytest.raises(UsageError, match="Use `/zdm rollback tenant <slug>"):
        parse_rollback_args("pilot_a")


def test_steps_run_in_order_and_failures_do_not_stop_later_steps() -> None:
    rollback = make(RollbackRequest("pilot_a", "why"))
    assert next_step(rollback) == Step.FLAG_OFF
    rollback = finish(rollback, Step.FLAG_OFF, StepStatus.FAILED)
    assert next_step(rollback) == Step.RESTORE_VIEWS
    rollback = finish(finish(rollback, Step.RESTORE_VIEWS), Step.SMOKE_TESTS)
    assert next_step(rollback) == Step.ROLLBACK_LOG  # schema step was skipped: not requested
    rollback = finish(rollback, Step.ROLLBACK_LOG)
    assert next_step(rollback) is None
    assert rollback.status == RollbackStatus.FAILED


def test_schema_step_waits_for_a_decision() -> None:
    rollback = make(RollbackRequest("pilot_a", "why", "20250301000000"))
    for step in (Step.FLAG_OFF, Step.RESTORE_VIEWS, Step.SMOKE_TESTS):
        assert not needs_schema_prompt(rollback)
        rollback = finish(rollback, step)
    assert next_step(rollback) is None and needs_schema_prompt(rollback)
    rollback = rollback.with_step(StepResult(Step.SCHEMA_ROLLBACK, StepStatus.AWAITING))
    assert rollback.status == RollbackStatus.AWAITING and next_step(rollback) is None
    assert replace(rollback, schema_decision="apply").status == RollbackStatus.AWAITING
    assert next_step(replace(rollback, schema_decision="apply")) == Step.SCHEMA_ROLLBACK


def test_overall_status() -> None:
    ok = tuple(StepResult(s, StepStatus.OK) for s in Step)
    assert overall_status(ok) == RollbackStatus.SUCCEEDED
    assert overall_status((*ok[:-1], StepResult(Step.ROLLBACK_LOG))) == RollbackStatus.RUNNING


def test_card_shows_buttons_only_while_awaiting_and_log_entry_has_everything() -> None:
    rollback = make(RollbackRequest("pilot_a", "checkout errors", "1"))
    assert rollback_card(rollback).buttons == ()
    awaiting = rollback.with_step(StepResult(Step.SCHEMA_ROLLBACK, StepStatus.AWAITING))
    card = rollback_card(awaiting)
    assert [b.value for b in card.buttons] == ["7", "7"] and card.buttons[0].confirm is not None
    done = finish(finish(finish(awaiting, Step.FLAG_OFF), Step.RESTORE_VIEWS), Step.SMOKE_TESTS, StepStatus.FAILED)
    done = done.with_step(replace(done.result(Step.SMOKE_TESTS), output_tail="boom ```"))
    entry = log_entry(done)
    assert entry.startswith(marker(done.uid)) and marker(done.uid) != marker(make(RollbackRequest("x", "y")).uid)
    assert "## 2026-11-25 14:02 UTC — rollback of tenant `pilot_a`" in entry
    assert "- **Smoke tests:** FAILED" in entry
    assert "````\nboom ```\n````" in entry  # output containing a fence cannot break out of the code block
    assert "- **Remediation tasks:**" in entry


def test_reason_cannot_ping_the_channel_or_hide_a_log_marker() -> None:
    reason = parse_rollback_args("tenant pilot_a <!channel> <!-- zdm:rollback:1 --> a&b").reason
    assert "<" not in reason and "-->" not in reason
    assert reason == "&lt;!channel&gt; zdm:rollback:1 a&amp;b"


def test_steps_a_dead_holder_claimed_rerun_when_idempotent_and_fail_otherwise() -> None:
    rollback = make(RollbackRequest("pilot_a", "why"))
    claimed = finish(finish(rollback, Step.FLAG_OFF, StepStatus.RUNNING), Step.SMOKE_TESTS, StepStatus.RUNNING)
    assert overall_status(claimed.steps) == RollbackStatus.RUNNING and next_step(claimed) == Step.RESTORE_VIEWS
    recovered = recover_interrupted(claimed, NOW)
    assert recovered.result(Step.FLAG_OFF).status == StepStatus.PENDING  # the same effect however often it runs
    smoke = recovered.result(Step.SMOKE_TESTS)
    assert (smoke.status, smoke.finished_at) == (StepStatus.FAILED, NOW) and smoke.detail.startswith("interrupted")
    assert recover_interrupted(recovered, NOW) == recovered
