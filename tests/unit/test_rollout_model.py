"""Pure rollout decisions: plan config, KPI gates, what is due when, and the command's arguments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.config import load_config
from commands.errors import ConfigError, UsageError
from commands.rollout.args import parse_rollout_args
from commands.rollout.config import RUNBOOK_PLAN, GatesConfig, RolloutConfig, parse_duration, plan_digest
from commands.rollout.gates import GateState, KpiReading, evaluate, windows
from commands.rollout.model import (
    RETRY_AFTER,
    Due,
    Rollout,
    RolloutStatus,
    StepState,
    StepStatus,
    aborted,
    due_at,
    due_with_reason,
    due_work,
    new_steps,
    next_gate_check,
    next_wake,
    paused,
    paused_for,
    resumed,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
GATES = GatesConfig()
TIMING = {"remind_after": 2 * H, "escalate_after": 6 * H}


def rollout(**changes: object) -> Rollout:
    base = Rollout(
        id=1,
        flag="tenant.enableNewProfile",
        plan_name="runbook",
        plan=RUNBOOK_PLAN,
        gates=GATES,
        digest=plan_digest(RUNBOOK_PLAN, GATES),
        started_by="U0A",
        started_at=T0,
        steps=new_steps(4),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def flipped(r: Rollout, index: int, at: datetime, tenants: tuple[str, ...]) -> Rollout:
    state = StepState(status=StepStatus.DONE, cohort=tenants, enabled=tenants, flipped_at=at, flipped_by="U0B")
    return replace(r.with_step(index, state), current=index + 1, last_flip_at=at)


def reading(samples: int = 200, errors: int = 0, p95: float | None = 120.0, breaches: int = 0) -> KpiReading:
    return KpiReading(T0, T0 + 5 * timedelta(minutes=1), samples, errors, p95, breaches)


# --- plan config ----------------------------------------------------------------------------------------------


def test_the_default_plan_is_the_runbooks() -> None:
    plan = RolloutConfig().plans["runbook"]
    assert [s.at for s in plan] == [0 * H, 12 * H, 36 * H, 72 * H]
    assert [s.required_approvals for s in plan] == [1, 1, 1, 2]
    assert plan[0].slugs == ("demo_icupa",) and plan[1].glob == "pilot_*" and plan[3].all


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[rollout.plans.fast]]\nname = "x"\nat = "0h"\n', "give exactly one of slugs, glob, sql or all"),
        ('[[rollout.plans.fast]]\nname = "x"\nat = "soon"\nall = true\n', "'soon' is not a duration"),
        ('[[rollout.plans.fast]]\nname = "x"\nat = "1h"\nsql = "delete from tenants"\n', "sql must be a query"),
        (
            '[[rollout.plans.fast]]\nname = "a"\nat = "2h"\nall = true\n'
            '[[rollout.plans.fast]]\nname = "b"\nat = "1h"\nall = true\n',
            "steps must be in order",
        ),
        ('[rollout.gates]\nwindow = "10m"\nhold_for = "5m"\n', "hold_for must be at least one window"),
        ('[rollout]\ndefault_plan = "nope"\n', "default_plan 'nope' is not one of the plans"),
        (
            '[roles]\nrelease_approvers = ["U0A", "U0B"]\n',
            "needs 2 approvals from someone other than the starter, so roles.release_approvers needs at least 3",
        ),
    ],
)
def test_bad_plans_are_refused_naming_the_problem(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "zdm.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match="rollout") as caught:
        load_config(path)
    assert message in str(caught.value)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(60) == timedelta(minutes=1)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("-1h")


# --- gates ----------------------------------------------------------------------------------------------------


def test_gates_pass_fail_and_no_data() -> None:
    def state(*readings: KpiReading, tenants: int = 3) -> GateState:
        return evaluate(readings, GATES, tenants=tenants).state

    assert state(reading(), reading(), reading()) == GateState.PASS
    assert state(reading(), reading(errors=2), reading()) == GateState.FAIL  # 1 % is not < 1 %
    assert state(reading(), reading(p95=350.0), reading()) == GateState.FAIL
    assert state(reading(), reading(breaches=1), reading()) == GateState.FAIL
    assert state(reading(), reading(samples=49), reading()) == GateState.NO_DATA
    assert state(reading(samples=10, errors=9), reading(), reading()) == GateState.NO_DATA  # too few to judge
    assert state(tenants=0) == GateState.NOT_APPLICABLE


def test_no_data_blocks_unless_configured_to_pass() -> None:
    empty = [reading(samples=0, p95=None)] * 3
    assert evaluate(empty, GATES, tenants=1).blocks
    lenient = GatesConfig(no_data="pass")
    report = evaluate(empty, lenient, tenants=1)
    assert report.state == GateState.NO_DATA and not report.blocks and not report.breached


def test_a_gate_must_hold_over_consecutive_windows() -> None:
    spans = windows(T0, GATES)
    assert spans == [(T0 - 15 * timedelta(minutes=1), T0 - 10 * timedelta(minutes=1)),
                     (T0 - 10 * timedelta(minutes=1), T0 - 5 * timedelta(minutes=1)),
                     (T0 - 5 * timedelta(minutes=1), T0)]  # fmt: skip
    report = evaluate([reading(errors=10), reading(), reading()], GATES, tenants=2)
    assert report.breached and "error rate 5.00 % (needs < 1 %)" in report.failing_sentence()


# --- cadence --------------------------------------------------------------------------------------------------


def test_steps_are_due_at_their_offsets_from_the_first_flip() -> None:
    r = flipped(rollout(), 0, T0 + 11 * H, ("demo_icupa",))  # demo_icupa approved late: T+0 is its flip
    r = replace(r, gates_checked_at=T0 + 23 * H)
    assert due_work(r, T0 + 23 * H - timedelta(seconds=1), **TIMING) == []
    assert due_work(r, T0 + 23 * H, **TIMING) == [Due.PROMPT]
    assert next_wake(r, T0 + 22 * H, **TIMING) == T0 + 23 * H
    assert due_with_reason(r, 1)[1] == "T+12h after the first flip (2026-11-25 20:00 UTC)"


def test_pausing_stops_the_clock() -> None:
    r = flipped(rollout(), 0, T0, ("demo_icupa",))
    paused = replace(r, status=RolloutStatus.PAUSED, paused_at=T0 + 2 * H)
    assert due_work(paused, T0 + 40 * H, **TIMING) == [] and next_wake(paused, T0 + 3 * H, **TIMING) is None
    resumed = replace(paused, status=RolloutStatus.RUNNING, paused_at=None, paused_total=4 * H)
    assert due_at(resumed, 1) == T0 + 16 * H and due_at(resumed, 3) == T0 + 76 * H


def test_resume_shifts_the_prompt_reminders_and_restarts_kpi_watching() -> None:
    prompted = StepState(status=StepStatus.PROMPTED, cohort=("pilot_c",), prompted_at=T0 + 12 * H, prompt_ts="1.2")
    r = flipped(rollout(), 0, T0, ("demo_icupa",)).with_step(1, prompted)
    stopped = paused(r, T0 + 13 * H, actor="U0A", reason="incident")
    with pytest.raises(UsageError, match="not running; nothing to pause"):
        paused(stopped, T0 + 14 * H, actor="U0A", reason="again")
    again = resumed(stopped, T0 + 23 * H, actor="U0A")
    assert again.paused_total == 10 * H and again.gates_checked_at == T0 + 23 * H
    assert again.steps[1].prompted_at == T0 + 22 * H  # waited 1 h before the pause: no escalation at resume
    assert due_work(again, T0 + 23 * H, **TIMING) == []
    assert due_work(again, T0 + 24 * H, **TIMING) == [Due.CHECK_GATES, Due.REMIND]
    done = aborted(again, T0 + 24 * H, actor="U0B", reason="stop")
    assert done.status == RolloutStatus.ABORTED and "enabled tenants stay enabled" in done.history[-1]
    with pytest.raises(UsageError, match="already aborted"):
        aborted(done, T0 + 25 * H, actor="U0B", reason="twice")


def test_a_late_flip_delays_the_next_step_by_the_plans_gap() -> None:
    r = flipped(flipped(rollout(), 0, T0, ("demo_icupa",)), 1, T0 + 35 * H + 50 * timedelta(minutes=1), ("pilot_c",))
    at, why = due_with_reason(r, 2)  # not 15 minutes after the pilots: the plan's 24 h of observing them
    assert at == T0 + 59 * H + 50 * timedelta(minutes=1) and why == "the plan's 24h gap after the previous flip"


def test_a_resume_before_the_pause_by_a_stepped_back_clock_moves_no_step_earlier() -> None:
    prompted = StepState(status=StepStatus.PROMPTED, cohort=("pilot_c",), prompted_at=T0 + 12 * H, prompt_ts="1.2")
    r = flipped(rollout(), 0, T0, ("demo_icupa",)).with_step(1, prompted)
    stopped = paused(r, T0 + 13 * H, actor="U0A", reason="incident")
    again = resumed(stopped, T0 + 11 * H, actor="U0A")  # the wall clock stepped back 2 h during the pause
    assert again.paused_total == timedelta(0) and again.steps[1].prompted_at == T0 + 12 * H
    assert due_at(again, 2) == due_at(r, 2) and due_at(again, 3) == due_at(r, 3)
    assert paused_for(stopped, T0 + 11 * H) == timedelta(0)


def test_prompts_remind_then_escalate_once() -> None:
    prompted = StepState(status=StepStatus.PROMPTED, cohort=("demo_icupa",), prompted_at=T0, prompt_ts="1.1")
    r = rollout().with_step(0, prompted)
    assert due_work(r, T0 + H, **TIMING) == []
    assert due_work(r, T0 + 2 * H, **TIMING) == [Due.REMIND]
    reminded = r.with_step(0, replace(prompted, reminded_at=T0 + 2 * H))
    assert due_work(reminded, T0 + 3 * H, **TIMING) == []
    assert due_work(reminded, T0 + 6 * H, **TIMING) == [Due.ESCALATE]
    unposted = r.with_step(0, replace(prompted, prompt_ts=None))
    assert due_work(unposted, T0, **TIMING) == [Due.POST_PROMPT]


def test_a_claimed_flip_is_finished_first() -> None:
    r = rollout().with_step(0, StepState(status=StepStatus.FLIPPING, cohort=("demo_icupa",), prompted_at=T0))
    assert due_work(r, T0, **TIMING) == [Due.FINISH_FLIP]
    assert next_wake(r, T0, **TIMING) == T0 + RETRY_AFTER  # the flipping worker saves sooner; this is for a crash


def test_gates_are_watched_while_waiting_once_tenants_are_enabled() -> None:
    r = flipped(rollout(), 0, T0, ("demo_icupa",))
    first = next_gate_check(r)  # the approval re-checked them: the first watch comes within check_every
    assert first is not None and T0 < first <= T0 + timedelta(minutes=5)
    assert due_work(r, first, **TIMING) == [Due.CHECK_GATES]
    checked = replace(r, gates_checked_at=T0 + timedelta(minutes=1))
    due = next_gate_check(checked)
    assert due is not None and T0 + timedelta(minutes=1) < due <= T0 + timedelta(minutes=6)  # at its phase
    assert due_work(checked, due - timedelta(seconds=1), **TIMING) == []
    assert due_work(checked, due, **TIMING) == [Due.CHECK_GATES]
    assert next_wake(checked, T0 + timedelta(minutes=1), **TIMING) == due
    again = replace(checked, gates_checked_at=due)
    assert next_gate_check(again) == due + timedelta(minutes=5)  # then exactly check_every apart


def test_kpi_checks_of_rollouts_approved_together_are_spread_over_the_interval() -> None:
    together = [flipped(rollout(id=n), 0, T0, ("demo_icupa",)) for n in range(1, 1001)]
    checks = [next_gate_check(replace(r, gates_checked_at=T0)) for r in together]
    per_tick: dict[int, int] = {}
    for due in checks:
        assert due is not None and T0 < due <= T0 + timedelta(minutes=5)
        tick = int((due - T0).total_seconds() // 30)  # the scheduler's 30 s ticks
        per_tick[tick] = per_tick.get(tick, 0) + 1
    assert len(per_tick) == 10 and max(per_tick.values()) <= 110  # about a tenth of them on each tick


# --- arguments ------------------------------------------------------------------------------------------------


def test_rollout_arguments() -> None:
    start = parse_rollout_args("start checkout.v2 --plan fast")
    assert (start.action, start.flag, start.plan) == ("start", "checkout.v2", "fast")
    assert parse_rollout_args("start").flag is None
    pause = parse_rollout_args("pause #3 waiting for the review")
    assert (pause.rollout_id, pause.reason) == (3, "waiting for the review")
    assert parse_rollout_args("include pilot_c").slug == "pilot_c"
    for bad, message in [
        ("launch", "Use `/zdm rollout start"),
        ("start --plan", "`--plan` needs a plan name"),
        ("start a b", "Unexpected `b`"),
        ("status soon please", "takes at most a rollout number"),
        ("status #1234567890", "`#1234567890` is not a rollout number"),
        ("include", "Use `/zdm rollout include <slug>`, e.g. `/zdm rollout include pilot_c`"),
        ("include Bad!Slug", "Unexpected `Bad!Slug`; use `/zdm rollout include <slug>`"),
        ("approve #3", "`/zdm rollout approve` needs `--break-glass"),
        ("list all", "takes no arguments"),
        ('abort "unclosed', "check your quotes"),
    ]:
        with pytest.raises(UsageError) as caught:
            parse_rollout_args(bad)
        assert message in str(caught.value), bad


@given(st.text(max_size=80))
def test_any_text_parses_or_gives_a_usage_error(text: str) -> None:
    try:
        parse_rollout_args(text)
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)
