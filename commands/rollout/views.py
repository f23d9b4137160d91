"""What a rollout looks like to people: the thread's root card, the approval prompts, status and log text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from commands.cards import Button, Card, Confirm
from commands.readiness.model import Readiness
from commands.rollout.args import ROLLOUT_ARGS
from commands.rollout.gates import GateReport, GateState
from commands.rollout.model import Rollout, RolloutStatus, StepState, StepStatus, due_at, due_with_reason, paused_for

APPROVE_ACTION = "rollout_approve"
DENY_ACTION = "rollout_deny"
DENY_VIEW = "rollout_deny_reason"
SAMPLE = 8
INCLUDE = ROLLOUT_ARGS.form("include")  # how a tenant held out after a rollback is brought back
STEP_ICONS = {
    StepStatus.WAITING: "⏳",
    StepStatus.PROMPTED: "❓",
    StepStatus.FLIPPING: "🔄",
    StepStatus.DONE: "✅",
    StepStatus.SKIPPED: "➖",
    StepStatus.DENIED: "⛔",
}
GATE_ICONS = {GateState.PASS: "✅", GateState.FAIL: "❌", GateState.NO_DATA: "❔", GateState.NOT_APPLICABLE: "➖"}


def token(rollout: Rollout, index: int) -> str:
    """What approval buttons carry: rollout, step and the fingerprint of the plan the rollout runs. A rollout keeps
    the plan it started with, so the fingerprint guards against cards from a record rewritten since."""
    return f"{rollout.id}:{index}:{rollout.digest}"


def mention(entry: str) -> str:
    return f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>"


def when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def sample(slugs: Sequence[str]) -> str:
    shown = ", ".join(f"`{s}`" for s in slugs[:SAMPLE])
    return shown + (f" and {len(slugs) - SAMPLE} more" if len(slugs) > SAMPLE else "")


def rollout_title(rollout: Rollout) -> str:
    return f"Rollout #{rollout.id} of `{rollout.flag}` (plan `{rollout.plan_name}`)"


def root_card(rollout: Rollout, *, held: dict[str, int], now: datetime) -> Card:
    """The thread's first message, kept up to date: one line per step plus the rollout's state."""
    lines = [f"Started by <@{rollout.started_by}> at {when(rollout.started_at)} · {_status_line(rollout)}"]
    lines += [_step_line(rollout, i, now) for i in range(len(rollout.plan))]
    if held:
        names = ", ".join(f"`{t}` (rollback #{rid})" for t, rid in sorted(held.items())[:SAMPLE])
        more = f" and {len(held) - SAMPLE} more" if len(held) > SAMPLE else ""  # a count, never the whole list
        lines.append(f"Held out after a rollback: {names}{more} — `{INCLUDE}` re-includes one.")
    return Card(title=rollout_title(rollout), lines=tuple(lines), footer=f"rollout #{rollout.id} · {rollout.digest}")


def status_card(rollout: Rollout, *, held: dict[str, int], report: GateReport | None, now: datetime) -> Card:
    root = root_card(rollout, held=held, now=now)
    lines = list(root.lines)
    if report is not None:
        lines += ["*KPIs now* (tenants enabled so far):", *kpi_lines(report)]
    if rollout.history:
        lines += ["*History*", *(f"• {h}" for h in rollout.history[-15:])]
    return Card(title=root.title, lines=tuple(lines), footer=root.footer)


def prompt_card(
    rollout: Rollout,
    index: int,
    *,
    report: GateReport | None,
    approvers: Sequence[str],
    now: datetime,
    readiness: Readiness | None = None,
) -> Card:
    """The approval prompt for one step, posted in the rollout's thread and updated in place."""
    step, state = rollout.plan[index], rollout.steps[index]
    since = rollout.last_flip_at or rollout.started_at
    label = "last step" if rollout.last_flip_at else "start"
    lines = [f"Cohort: *{len(state.cohort)} tenants* ({step.selector}): {sample(state.cohort) or '—'}"]
    if state.status == StepStatus.PROMPTED:
        lines.append(f"Time since the {label}: {ago(now - since)}")
    if state.already_enabled:
        lines.append(f"Already enabled, skipped: {len(state.already_enabled)} ({sample(state.already_enabled)})")
    if state.held_out:
        lines.append(f"Held out after a rollback: {sample(state.held_out)} — `{INCLUDE}`")
    if report is not None:
        lines += [f"*KPIs* on {report.tenants} tenants enabled so far, {report.window}:", *kpi_lines(report)]
    if readiness is not None:
        lines += [readiness.headline(), f"_{readiness.detail()}_"]
    required = step.required_approvals
    who = ", ".join(mention(a) for a in approvers) or "nobody (set roles.release_approvers)"
    lines.append(f"Approvals: {len(state.approvals)} of {required}" + _names(state.approvals))
    lines.append(f"May approve: {who} (not <@{rollout.started_by}>, who started it)")
    buttons: tuple[Button, ...] = ()
    if state.status == StepStatus.PROMPTED and rollout.status == RolloutStatus.RUNNING:
        buttons = _buttons(rollout, index, len(state.cohort))
    outcome = _outcome(rollout, state)
    if outcome:
        lines.append(outcome)
    title = f"Step {index + 1}/{len(rollout.plan)} · {step.name}: enable `{rollout.flag}` for {len(state.cohort)}"
    return Card(title=title + " tenants?", lines=tuple(lines), buttons=buttons, footer=f"rollout #{rollout.id}")


def kpi_lines(report: GateReport) -> list[str]:
    if report.state == GateState.NOT_APPLICABLE:
        return ["➖ no tenants enabled yet: nothing to measure"]
    lines = [f"{GATE_ICONS[r.state]} {r.name}: {r.value} (needs {r.threshold}) — {r.state.value}" for r in report.rows]
    if report.state == GateState.NO_DATA:
        lines.append("No data counts as failing." if not report.no_data_passes else "No data is allowed to pass.")
    return lines


def list_line(rollout: Rollout) -> str:
    step = rollout.plan_step
    where = f"step {rollout.current + 1}/{len(rollout.plan)} {step.name}" if step else "all steps done"
    return f"#{rollout.id} `{rollout.flag}` · {rollout.status.value} · {where} · started {when(rollout.started_at)}"


def flip_log_entry(rollout: Rollout, index: int) -> str:
    """The rollback-log entry for one cohort flip: every tenant toggled, by whom, when."""
    state, step = rollout.steps[index], rollout.plan[index]
    assert state.flipped_at is not None
    lines = [
        flip_marker(rollout.uid, index),
        f"## {when(state.flipped_at)} — rollout #{rollout.id} step {index + 1} `{step.name}`: "
        f"`{rollout.flag}` on for {len(state.enabled)} tenants",
        "",
        f"- **Approved by:** {', '.join(state.approvals)}",
        f"- **Enabled:** {', '.join(state.enabled) or '—'}",
    ]
    if state.failed:
        lines.append(f"- **Failed:** {'; '.join(f'{t}: {why}' for t, why in state.failed)}")
    if state.held_out:
        lines.append(f"- **Held out:** {', '.join(state.held_out)}")
    if state.skipped:
        lines.append(f"- **Skipped (rolled back during the flip):** {', '.join(t for t, _ in state.skipped)}")
    return "\n".join([*lines, "", ""])


def flip_marker(rollout_uid: str, index: int) -> str:
    """Globally unique (the rollout's uuid), like the rollback entries' markers."""
    return f"<!-- zdm:rollout:{rollout_uid}:step:{index} -->"


def _buttons(rollout: Rollout, index: int, size: int) -> tuple[Button, ...]:
    value = token(rollout, index)
    return (
        Button(
            APPROVE_ACTION,
            "Approve",
            value,
            style="primary",
            confirm=Confirm(
                title="Approve this step?",
                text=f"Enables `{rollout.flag}` for {size} tenants once the KPI gates pass.",
                ok="Approve",
            ),
        ),
        Button(
            DENY_ACTION,
            "Deny",
            value,
            style="danger",
            confirm=Confirm(title="Deny this step?", text="Stops the whole rollout; you will be asked why.", ok="Deny"),
        ),
    )


def _outcome(rollout: Rollout, state: StepState) -> str | None:
    if state.status == StepStatus.DONE and state.flipped_at:
        text = f"✅ Enabled for {len(state.enabled)} tenants by <@{state.flipped_by}> at {state.flipped_at:%H:%M} UTC"
        if state.failed:
            text += f"; ❌ failed for {len(state.failed)}: " + "; ".join(f"`{t}` {w}" for t, w in state.failed[:5])
            text += f" and {len(state.failed) - 5} more" if len(state.failed) > 5 else ""
        return text + _skipped(state)
    if state.status == StepStatus.FLIPPING and state.interrupted:
        left = len(state.cohort) - len(state.enabled) - len(state.failed) - len(state.skipped)
        return (
            f"⏸ Flip stopped by the {state.interrupted} after {len(state.enabled)} tenants; {left} left off. "
            "A resume re-checks the KPI gates first." + _skipped(state)
        )
    if state.status == StepStatus.FLIPPING:
        return f"🔄 Enabling now (approved by <@{state.flipped_by}>)…"
    if state.status == StepStatus.DENIED:
        return f"⛔ Denied by <@{state.denied_by}>: {state.reason}"
    if state.status == StepStatus.PROMPTED and not rollout.status.active:
        return f"Rollout {rollout.status.value}: {rollout.status_reason or 'no reason given'}; nothing more happens."
    if state.status == StepStatus.PROMPTED and rollout.status == RolloutStatus.PAUSED:
        return f"⏸ Rollout paused: {rollout.status_reason}. `/zdm rollout resume` brings the buttons back."
    return None


def _skipped(state: StepState) -> str:
    if not state.skipped:
        return ""
    items = "; ".join(f"`{t}` {why}" for t, why in state.skipped[:5])
    return f"; ⏭ skipped {len(state.skipped)}: {items}"


def _names(users: Sequence[str]) -> str:
    return (" — " + ", ".join(f"<@{u}>" for u in users)) if users else ""


def _status_line(rollout: Rollout) -> str:
    if rollout.status == RolloutStatus.PAUSED:
        return f"⏸ *paused* since {when(rollout.paused_at or rollout.started_at)}: {rollout.status_reason}"
    if rollout.status in (RolloutStatus.ABORTED, RolloutStatus.DENIED):
        return f"⛔ *{rollout.status.value}*: {rollout.status_reason}"
    if rollout.status == RolloutStatus.DONE:
        return f"✅ *done* at {when(rollout.finished_at or rollout.started_at)}"
    return "▶️ *running*"


def _step_line(rollout: Rollout, index: int, now: datetime) -> str:
    step, state = rollout.plan[index], rollout.steps[index]
    head = f"{STEP_ICONS[state.status]} T+{_hours(step.at)} *{step.name}* ({step.selector})"
    if state.status == StepStatus.DONE and state.flipped_at:
        return f"{head}: {len(state.enabled)} enabled at {when(state.flipped_at)} by <@{state.flipped_by}>"
    if state.status == StepStatus.SKIPPED:
        return f"{head}: {state.reason}"
    if state.status == StepStatus.DENIED:
        return f"{head}: denied by <@{state.denied_by}> — {state.reason}"
    if state.status in (StepStatus.PROMPTED, StepStatus.FLIPPING):
        return f"{head}: {len(state.cohort)} tenants, waiting for approval since {when(state.prompted_at or now)}"
    if rollout.status == RolloutStatus.RUNNING and index >= rollout.current:
        at, why = due_with_reason(rollout, index)
        return f"{head}: due {when(at)} ({why})"
    if rollout.status == RolloutStatus.PAUSED and index >= rollout.current:
        shifted = due_at(rollout, index) + (paused_for(rollout, now) - rollout.paused_total)
        return f"{head}: due {when(shifted)} if resumed now"
    return head


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g}h"
