"""The cleanup plan card: the day-by-day evidence, what still blocks, the migration pair and the approvals."""

from __future__ import annotations

from commands.approvals import DBA_AND_LEAD, approver
from commands.cards import Button, Card
from commands.cleanup.model import Cleanup, CleanupStatus, Day, GateDecision
from commands.rollout.gates import GateState

APPROVE_ACTION = "zdm_cleanup_approve"


def day_line(day: Day) -> str:
    head = f"Day {day.number} · {day.since:%Y-%m-%d %H:%M}–{day.until:%m-%d %H:%M} UTC:"
    parts = []
    if day.report is not None:
        rows = {r.name: r for r in day.report.rows}
        shown = [f"{n} {rows[n].value}" for n in ("error rate", "P95 latency", "AI-guardrail breaches") if n in rows]
        samples = rows["samples"].value.split(" ")[0] if "samples" in rows else "0"
        parts.append(" · ".join(shown) + f" ({samples} requests)")
        if day.report.state in (GateState.FAIL, GateState.NO_DATA):
            parts.append(f"not within thresholds: {day.report.failing_sentence()}")
    else:
        parts.append("in progress")
    if day.rollbacks:
        parts.append("rollback of " + ", ".join(f"`{t}`" for t in day.rollbacks))
    return f"{'❌' if day.bad else '✅'} {head} " + "; ".join(parts)


def cleanup_card(
    *, release: str, decision: GateDecision, file: str | None, pair: str | None, cleanup: Cleanup | None
) -> Card:
    if cleanup is not None and cleanup.status is CleanupStatus.APPROVED:
        verdict = "✅ approved"
    elif decision.allowed:
        verdict = "✅ allowed, awaiting approval"
    elif cleanup is not None and cleanup.break_glass and cleanup.status is CleanupStatus.AWAITING:
        verdict = "🔓 not allowed yet, requested by break-glass, awaiting approval"
    else:
        verdict = "⛔ not allowed yet"
    lines = [f"*Cleanup migration:* `{file or 'not configured'}`" + (f" with its pair `{pair}`" if pair else "")]
    if decision.earliest is not None:
        lines.append(f"*Earliest cleanup date:* {decision.earliest:%Y-%m-%d %H:%M} UTC")
    lines += [day_line(d) for d in decision.days] or ["No complete day since the rollout reached all tenants."]
    lines += [f"⛔ {reason}" for reason in decision.reasons]
    buttons: tuple[Button, ...] = ()
    if cleanup is not None:
        for role in DBA_AND_LEAD:
            got = approver(cleanup.approvals, role)
            lines.append(
                f"• `{role}`: ✅ <@{got.user}> at {got.at:%Y-%m-%d %H:%M} UTC" if got else f"• `{role}`: waiting"
            )
        if cleanup.reason:
            lines.append(f"*Why:* {cleanup.reason}")
        if cleanup.break_glass:
            lines.append(f"🔓 break-glass: {cleanup.break_glass}")
        if cleanup.status is CleanupStatus.AWAITING:
            buttons = (Button(APPROVE_ACTION, "Approve cleanup", f"{cleanup.id}:{cleanup.files_hash}", "primary"),)
    return Card(
        title=f"Cleanup plan for `{release}`: {verdict}",
        lines=tuple(lines),
        buttons=buttons,
        footer="Runbook §7: destructive cleanup after the stable days, with one `dba` and one `platform_lead` "
        "(not the requester) approving; a change to either file voids the approvals.",
    )
