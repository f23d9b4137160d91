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
ALL_OFF_ACTION = "rollback_schema_all_off"


def marker(rollback_uid: str) -> str:
    """Globally unique (a uuid, not the state database's serial): a fresh or second state database writing the same
    log never mistakes its entry for an older one."""
    return f"<!-- zdm:rollback:{rollback_uid} -->"


def rollback_card(rollback: Rollback, *, others_on: int | None = None) -> Card:
    """The ``#release`` card. While the schema step waits, ``others_on`` (how many other tenants have the flag on
    now) is its blast radius: with any, the only way to apply is to turn the flag off for all of them first."""
    status = rollback.status
    lines = [f"{ICONS[s.status]} *{STEP_TITLES[s.step]}* — {s.detail or s.status.value}" for s in rollback.steps]
    buttons: tuple[Button, ...] = ()
    if status == RollbackStatus.AWAITING:
        lines.append(_blast_radius(rollback, others_on))
        buttons = (_apply_button(rollback, others_on), Button(CANCEL_ACTION, "Skip schema rollback", str(rollback.id)))
    smoke = rollback.result(Step.SMOKE_TESTS)
    pin = f" · `{rollback.schema_file}` sha256 {rollback.schema_sha256[:12]}" if rollback.schema_sha256 else ""
    return Card(
        title=f"{HEADLINES[status]} `{rollback.tenant}` (flag `{rollback.flag}`)",
        lines=(f"Requested by <@{rollback.requested_by}>: {rollback.reason}", *lines),
        buttons=buttons,
        code=smoke.output_tail if smoke.status == StepStatus.FAILED and smoke.output_tail else None,
        footer=f"rollback #{rollback.id} · ref {rollback.correlation_id or '-'}{pin}",
    )


def _blast_radius(rollback: Rollback, others_on: int | None) -> str:
    who = (
        "zdm could not count the other tenants that have the flag on"
        if others_on is None
        else f"*{others_on}* other tenant(s) have `{rollback.flag}` on now"
    )
    return (
        f"⚠️ *Global:* `{rollback.schema_file}` changes the schema for every tenant, not only `{rollback.tenant}`; "
        f"{who}. Applying needs a `dba` or `platform_lead` other than <@{rollback.requested_by}>."
    )


def _apply_button(rollback: Rollback, others_on: int | None) -> Button:
    value = str(rollback.id)
    if others_on:
        return Button(
            ALL_OFF_ACTION,
            f"Turn the flag off for all {others_on} tenants, then apply",
            value,
            style="danger",
            confirm=Confirm(
                title="Apply schema rollback?",
                text=f"Turns `{rollback.flag}` off for every tenant that has it on (now {others_on}), then runs "
                f"`{rollback.schema_file}` against the target database in one transaction.",
                ok="Turn off and apply",
            ),
        )
    return Button(
        CONFIRM_ACTION,
        f"Apply {rollback.schema_file} (all tenants)",
        value,
        style="danger",
        confirm=Confirm(
            title="Apply schema rollback?",
            text=f"Runs `{rollback.schema_file}` against the target database in one transaction; it changes the "
            "schema for every tenant.",
            ok="Apply",
        ),
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
        marker(rollback.uid),
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
