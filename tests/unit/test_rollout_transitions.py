"""Rollout transitions on plain data: a stored rollout, an event and ``now`` in; the new state and the exact effects
out (no database, no Slack, no clock — ``commands.rollout.transitions`` / ``step_transitions``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from commands.errors import GateBlocked, StalePrompt, UsageError, UserError
from commands.readiness.model import Check, CheckState, Readiness, RollbackNotReady
from commands.rollout.config import RUNBOOK_PLAN, GatesConfig, plan_digest
from commands.rollout.effect_types import Announce, AppendLog, Audit, PostPrompt, RefreshPrompt, RefreshRoot
from commands.rollout.exposure import GuardedFlip
from commands.rollout.gates import GateReport, GateState, KpiRow
from commands.rollout.model import Rollout, RolloutStatus, StepState, StepStatus, new_steps
from commands.rollout.step_transitions import (
    flip_applied,
    flip_held,
    gates_checked,
    nudged,
    prompt_unposted,
    step_opened,
)
from commands.rollout.transitions import (
    approval_added,
    approval_blocked,
    approvals_missing,
    denied,
    include_noted,
    readiness_blocked,
    started,
    status_changed,
    step_claimed,
)
from commands.rollout.views import flip_log_entry, flip_marker

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
FLAG = "tenant.enableNewProfile"
STARTER, ALICE, BOB = "U0START", "U0ALICE", "U0BOB"
FAILING = GateReport(GateState.FAIL, (KpiRow("error rate", "3.0%", "≤ 1.0%", GateState.FAIL),), tenants=1, window="1h")
PASSING = GateReport(GateState.PASS, (KpiRow("error rate", "0.1%", "≤ 1.0%", GateState.PASS),), tenants=1, window="1h")


def rollout(**changes: object) -> Rollout:
    base = Rollout(
        id=7,
        flag=FLAG,
        plan_name="runbook",
        plan=RUNBOOK_PLAN,
        gates=GatesConfig(),
        digest=plan_digest(RUNBOOK_PLAN, GatesConfig()),
        started_by=STARTER,
        started_at=T0,
        steps=new_steps(len(RUNBOOK_PLAN)),
        channel="C1",
        thread_ts="1.0",
        uid="uid-7",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def prompted(r: Rollout, index: int, *, cohort: tuple[str, ...], at: datetime = T0) -> Rollout:
    state = StepState(status=StepStatus.PROMPTED, cohort=cohort, prompted_at=at, prompt_ts="2.0")
    return replace(r.with_step(index, state), current=index)


def flipping(r: Rollout, index: int, *, cohort: tuple[str, ...], enabled: tuple[str, ...] = ()) -> Rollout:
    state = StepState(status=StepStatus.FLIPPING, cohort=cohort, enabled=enabled, prompted_at=T0, flipped_by=ALICE)
    return replace(r.with_step(index, state), current=index)


def test_a_start_is_noted_then_audited() -> None:
    t = started(rollout(), T0, actor=STARTER)
    assert t.state.history == ("2026-11-25 09:00 UTC — started by <@U0START> with plan `runbook`",)
    assert t.effects == (Audit("rollout.started", STARTER, {"plan": "runbook"}),)
    assert t.durable and not t.write_ahead and t.refused is None


def test_an_approval_short_of_the_required_count_is_recorded_and_the_card_redrawn() -> None:
    r = prompted(rollout(), 3, cohort=("ga_001",))  # an `all` step needs two approvals
    assert approvals_missing(r, actor=ALICE) == 1
    t = approval_added(r, T0 + H, actor=ALICE)
    assert t.state.steps[3].approvals == (ALICE,) and t.state.steps[3].status == StepStatus.PROMPTED
    assert t.effects == (Audit("rollout.approve", ALICE, {"step": 3, "count": 1}), RefreshPrompt(3))
    with pytest.raises(UserError, match="already approved this step; it needs 1 more"):
        approvals_missing(t.state, actor=ALICE)
    assert approvals_missing(t.state, actor=BOB) == 0


def test_the_last_approval_claims_the_step_for_the_flip_and_nothing_is_announced_yet() -> None:
    r = prompted(rollout(), 0, cohort=("demo_icupa",))
    t = step_claimed(r, actor=ALICE, break_glass="incident 42 (confirmed by U0LEAD)")
    state = t.state.steps[0]
    assert (state.status, state.approvals, state.flipped_by) == (StepStatus.FLIPPING, (ALICE,), ALICE)
    detail = {"step": 0, "count": 1, "break_glass": "incident 42 (confirmed by U0LEAD)"}
    assert t.effects == (Audit("rollout.approve", ALICE, detail),)


def test_a_blocked_gate_refuses_without_changing_the_record() -> None:
    r = prompted(rollout(), 0, cohort=("demo_icupa",))
    t = approval_blocked(r, actor=ALICE, report=FAILING)
    assert t.state is r
    assert isinstance(t.refused, GateBlocked) and "error rate 3.0%" in str(t.refused)
    why = {"why": "error rate 3.0% (needs ≤ 1.0%)"}
    assert t.effects == (Audit("rollout.approve", ALICE, why, "blocked"), RefreshPrompt(0, FAILING))


def test_a_broken_rollback_path_refuses_the_approval_and_redraws_the_card() -> None:
    r = prompted(rollout(), 1, cohort=("pilot_a",))
    broken = Readiness((Check("rollback files", CheckState.FAIL, "no rollback for 20261125_profiles"),))
    t = readiness_blocked(r, actor=ALICE, readiness=broken)
    assert t.state is r and isinstance(t.refused, RollbackNotReady)
    assert "step 2 of rollout #7" in str(t.refused)
    why = {"why": "the rollback path is broken: rollback files — no rollback for 20261125_profiles"}
    assert t.effects == (Audit("rollout.approve", ALICE, why, "blocked"), RefreshPrompt(1))


def test_a_re_included_tenant_is_noted_on_the_running_rollout() -> None:
    t = include_noted(rollout(), T0, actor=ALICE, slug="pilot_c")
    assert t.state.history[-1].endswith("<@U0ALICE> re-included `pilot_c`")
    assert t.effects == (RefreshRoot(),)


def test_a_denial_stops_the_rollout_and_says_so_after_redrawing_the_cards() -> None:
    r = prompted(rollout(), 1, cohort=("pilot_a",))
    t = denied(r, T0 + H, index=1, digest=r.digest, actor=ALICE, reason="not today")
    assert t.state.status == RolloutStatus.DENIED and t.state.finished_at == T0 + H
    assert (t.state.steps[1].status, t.state.steps[1].denied_by) == (StepStatus.DENIED, ALICE)
    assert t.effects == (
        RefreshRoot(),
        Audit("rollout.denied", ALICE, {"reason": "not today"}),
        RefreshPrompt(1),
        Announce("⛔ Rollout #7 stopped: <@U0ALICE> denied it — not today"),
    )
    with pytest.raises(StalePrompt, match="rollout #7 is denied"):
        denied(t.state, T0 + H, index=1, digest=r.digest, actor=BOB, reason="again")


def test_pause_then_resume_shifts_the_waiting_prompt_by_the_time_paused() -> None:
    r = prompted(rollout(), 1, cohort=("pilot_a",))
    pause = status_changed(r, T0 + H, action="pause", actor=ALICE, reason="investigating")
    assert pause.state.status == RolloutStatus.PAUSED
    assert pause.effects == (
        RefreshRoot(),
        Audit("rollout.pause", ALICE, {"reason": "investigating"}),
        RefreshPrompt(1),
        Announce("Rollout #7 ⏸ paused by <@U0ALICE>: investigating"),
    )
    resume = status_changed(pause.state, T0 + 3 * H, action="resume", actor=BOB, reason="no reason given")
    assert resume.state.status == RolloutStatus.RUNNING and resume.state.paused_total == 2 * H
    assert resume.state.steps[1].prompted_at == T0 + 2 * H
    assert resume.effects[-1] == Announce("Rollout #7 ▶️ resumed by <@U0BOB>")
    with pytest.raises(UsageError, match="not paused; nothing to resume"):
        status_changed(resume.state, T0 + 4 * H, action="resume", actor=BOB, reason="")


def test_a_pause_during_a_flip_marks_it_interrupted_and_never_completes_it() -> None:
    r = flipping(rollout(), 1, cohort=("pilot_a", "pilot_b"), enabled=("pilot_a",))
    t = status_changed(r, T0 + H, action="pause", actor="zdm", reason="alert fired")
    assert t.state.steps[1].status == StepStatus.FLIPPING and t.state.steps[1].interrupted == "pause"
    assert not t.write_ahead
    assert t.effects[-1] == Announce("Rollout #7 ⏸ paused by zdm: alert fired")


def test_an_abort_during_a_flip_closes_the_step_and_writes_its_log_entry_before_the_record() -> None:
    r = flipping(rollout(), 1, cohort=("pilot_a", "pilot_b"), enabled=("pilot_a",))
    t = status_changed(r, T0 + H, action="abort", actor=ALICE, reason="bad numbers")
    step = t.state.steps[1]
    assert t.state.status == RolloutStatus.ABORTED and step.status == StepStatus.DONE
    assert step.reason == "flip stopped by the abort after 1 of 2 tenants"
    (entry,) = t.write_ahead
    assert entry.marker == flip_marker("uid-7", 1) and "pilot_a" in entry.text and "pilot_b" not in entry.text
    assert [type(e) for e in t.effects] == [RefreshRoot, Audit, Announce]  # no prompt to redraw: not prompted


def test_a_routine_gate_check_is_saved_lightly_and_a_breach_pauses_loudly() -> None:
    r = replace(rollout(current=1), last_flip_at=T0)
    quiet = gates_checked(r, T0 + H, report=PASSING)
    assert quiet.state == replace(r, gates_checked_at=T0 + H) and quiet.effects == () and not quiet.durable
    loud = gates_checked(prompted(r, 1, cohort=("pilot_a",)), T0 + H, report=FAILING)
    assert loud.durable and loud.state.status == RolloutStatus.PAUSED
    why = "error rate 3.0% (needs ≤ 1.0%)"
    assert loud.effects == (
        Audit("rollout.auto_pause", "zdm", {"why": why}, "paused"),
        RefreshRoot(),
        RefreshPrompt(1, FAILING),
        Announce(
            f"⏸ Rollout #7 paused automatically: KPI breach — {why}. Investigate, then `/zdm rollout resume` "
            "(or `/zdm rollout abort <reason>`)."
        ),
    )


def test_a_due_step_is_prompted_without_held_out_or_enabled_tenants_and_its_card_posted_after_the_save() -> None:
    r = rollout(current=1)
    selected = ["pilot_a", "pilot_b", "pilot_c"]
    t = step_opened(r, T0 + 12 * H, selected=selected, held={"pilot_b"}, enabled={"pilot_c"})
    state = t.state.steps[1]
    assert (state.status, state.cohort, state.held_out, state.already_enabled) == (
        StepStatus.PROMPTED,
        ("pilot_a",),
        ("pilot_b",),
        ("pilot_c",),
    )
    assert t.effects == (Audit("rollout.step_due", "zdm", {"step": 1, "cohort": 1}), PostPrompt())
    assert prompt_unposted(t.state).effects == (PostPrompt(),)


def test_a_due_last_step_with_nothing_left_is_skipped_and_finishes_the_rollout() -> None:
    r = rollout(current=3)
    t = step_opened(r, T0 + 72 * H, selected=["ga_001"], held=set(), enabled={"ga_001"})
    assert t.state.status == RolloutStatus.DONE and t.state.steps[3].status == StepStatus.SKIPPED
    assert t.effects == (
        Audit("rollout.step_due", "zdm", {"step": 3, "cohort": 0}),
        Audit("rollout.finished", "zdm", {}),
        RefreshRoot(),
        Announce("➖ Step 4 `all tenants` skipped: nothing left to enable (1 already on)."),
    )


def test_a_finished_flip_is_done_logged_first_and_moves_to_the_next_step() -> None:
    r = flipping(rollout(), 1, cohort=("pilot_a", "pilot_b", "pilot_c"))
    result = GuardedFlip(changed=["pilot_a"], unchanged=["pilot_b"], skipped=[("pilot_c", "rolled back (#4)")])
    t = flip_applied(r, T0 + 12 * H, result=result, report=PASSING)
    done = t.state.steps[1]
    assert (done.status, done.enabled, done.skipped) == (StepStatus.DONE, ("pilot_a", "pilot_b"), tuple(result.skipped))
    assert (t.state.current, t.state.last_flip_at) == (2, T0 + 12 * H)
    expected_log = flip_log_entry(replace(t.state, current=1, history=r.history), 1)
    assert t.write_ahead == (AppendLog(flip_marker("uid-7", 1), expected_log),)
    assert t.effects == (
        RefreshPrompt(1, PASSING),
        RefreshRoot(),
        Announce("⏭ Step 2 left 1 tenants off, rolled back during the flip: `pilot_c`."),
    )


def test_the_last_flip_finishes_the_rollout() -> None:
    r = flipping(rollout(), 3, cohort=("ga_001",))
    t = flip_applied(r, T0 + 72 * H, result=GuardedFlip(changed=["ga_001"]), report=None)
    assert t.state.status == RolloutStatus.DONE and t.state.finished_at == T0 + 72 * H
    assert t.effects == (
        Audit("rollout.finished", "zdm", {}),
        RefreshPrompt(3, None),
        RefreshRoot(),
        Announce(f"✅ Rollout #7 finished: `{FLAG}` is on for every step's cohort."),
    )


def test_a_flip_stopped_between_tenants_keeps_the_step_claimed_and_writes_no_log() -> None:
    r = flipping(rollout(), 1, cohort=("pilot_a", "pilot_b"))
    t = flip_applied(r, T0 + 12 * H, result=GuardedFlip(changed=["pilot_a"], stopped="abort"), report=None)
    step = t.state.steps[1]
    assert (step.status, step.enabled, step.interrupted) == (StepStatus.FLIPPING, ("pilot_a",), "abort")
    assert t.state.history[-1].endswith("flip stopped by the abort; 1 tenants left off")
    assert t.effects == (RefreshPrompt(1, None),) and not t.write_ahead


def test_a_stopped_flip_whose_gates_fail_waits_for_a_fresh_approval() -> None:
    r = flipping(rollout(), 1, cohort=("pilot_a", "pilot_b"), enabled=("pilot_a",))
    r = r.with_step(1, replace(r.steps[1], interrupted="pause", approvals=(ALICE,)))
    t = flip_held(r, T0 + 13 * H, report=FAILING)
    step = t.state.steps[1]
    assert (step.status, step.approvals, step.flipped_by, step.prompted_at) == (
        StepStatus.PROMPTED,
        (),
        None,
        T0 + 13 * H,
    )
    assert t.effects[:2] == (RefreshPrompt(1, FAILING), RefreshRoot())
    assert t.effects[2] == Announce(
        "⏸ Step 2's stopped flip was not resumed: the KPI gates fail (error rate 3.0% (needs ≤ 1.0%)). "
        "It needs a fresh approval once they pass."
    )


def test_a_waiting_prompt_is_reminded_then_escalated_to_on_call() -> None:
    r = prompted(rollout(), 1, cohort=("pilot_a",))
    remind = nudged(r, T0 + 2 * H, escalate=False, members=[ALICE])
    assert remind.state.steps[1].reminded_at == T0 + 2 * H
    assert remind.effects == (
        Audit("rollout.reminded", "zdm", {}),
        Announce("⏰ Reminder <@U0ALICE>: step 2 of rollout #7 waits for approval (2 h 00 min)."),
    )
    page = nudged(remind.state, T0 + 6 * H, escalate=True, members=[])
    assert page.state.steps[1].escalated_at == T0 + 6 * H
    assert page.effects[1] == Announce(
        "🚨 on-call (no one configured): step 2 of rollout #7 has waited 6 h 00 min for approval."
    )
