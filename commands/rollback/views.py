"""What a rollback looks like to people: the ``#release`` card and the rollback-log entry (pure functions)."""

from __future__ import annotations

from commands.cards import Button, Card, Confirm
from commands.rollback.model import STEP_TITLES, Rollback, RollbackStatus, Step, StepStatus

ICONS = {
    StepStatus.PENDING: "⏳",
    StepStatus.AWAITING: "❓",
    StepStatus.RUNNING: "🔄",
    StepStatus.OK: "✅",
    StepStatus.FAILED: "❌",
    StepStatus.SKIPPED: "➖",
}
HEADLINES = {
    RollbackStatus.RUNNING: "Rolling back",
    RollbackStatus.AWAITING: "Rollback waiting for schema confirmation:",
    RollbackStatus.SUCCEEDED: "Rolled back",
    RollbackStatus.FAILED: "Rollback finished with failures:",
}
CONFIRM_ACTION = "rollback_schema_confirm"
CANCEL_ACTION = "rollback_schema_cancel"


def marker(rollback_id: int) -> str:
    return f"<!-- zdm:rollback:{rollback_id} -->"


def rollback_card(rollback: Rollback) -> Card:
    status = rollback.status
    lines = [f"{ICONS[s.status]} *{STEP_TITLES[s.step]}* — {s.detail or s.status.value}" for s in rollback.steps]
    buttons: tuple[Button, ...] = ()
    if status == RollbackStatus.AWAITING:
        value = str(rollback.id)
        buttons = (
            Button(
                CONFIRM_ACTION,
                f"Apply {rollback.schema_file}",
                value,
                style="danger",
                confirm=Confirm(
                    title="Apply schema rollback?",
                    text=f"Runs `{rollback.schema_file}` against the target database in one transaction.",
                    ok="Apply",
                ),
            ),
            Button(CANCEL_ACTION, "Skip schema rollback", value),
        )
    smoke = rollback.result(Step.SMOKE_TESTS)
    return Card(
        title=f"{HEADLINES[status]} `{rollback.tenant}` (flag `{rollback.flag}`)",
        lines=(f"Requested by <@{rollback.requested_by}>: {rollback.reason}", *lines),
        buttons=buttons,
        code=smoke.output_tail if smoke.status == StepStatus.FAILED and smoke.output_tail else None,
        footer=f"rollback #{rollback.id} · ref {rollback.correlation_id or '-'}",
    )


def log_entry(rollback: Rollback) -> str:
    """The markdown appended to ``docs/runbooks/rollback-log.md``."""
    when = rollback.created_at.strftime("%Y-%m-%d %H:%M UTC")
    steps = [
        f"  - {STEP_TITLES[s.step]}: **{s.status.value}** — {s.detail}"
        for s in rollback.steps
        if s.step != Step.ROLLBACK_LOG
    ]
    smoke = rollback.result(Step.SMOKE_TESTS)
    outcome = {StepStatus.OK: "passed", StepStatus.FAILED: "FAILED"}.get(smoke.status, smoke.status.value)
    parts = [
        marker(rollback.id),
        f"## {when} — rollback of tenant `{rollback.tenant}`",
        "",
        f"- **Flag:** `{rollback.flag}`",
        f"- **Requested by:** {rollback.requested_by}",
        f"- **Reason:** {rollback.reason}",
        f"- **Smoke tests:** {outcome}",
        "- **Steps:**",
        *steps,
    ]
    if smoke.output_tail:
        fence = "````" if "```" in smoke.output_tail else "```"
        parts += ["- **Smoke-test output (tail):**", "", fence, smoke.output_tail.rstrip(), fence]
    parts += [
        "- **Remediation tasks:**",
        "  - [ ] Root cause identified",
        "  - [ ] Fix merged and verified on staging",
        "  - [ ] Tenant re-included in the rollout",
        "",
        "",
    ]
    return "\n".join(parts)
