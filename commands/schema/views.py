"""What the schema stage looks like in Slack: the plan card and the deploy approval card (updated in place)."""

from __future__ import annotations

from commands.cards import Button, Card, Confirm
from commands.readiness.model import Readiness
from commands.schema.lint import Finding
from commands.schema.model import APPROVER_ROLES, Deploy, DeployStatus, Plan

APPROVE_ACTION = "zdm_schema_approve"
CANCEL_ACTION = "zdm_schema_cancel"
MAX_FINDINGS = 12

HEADLINES = {
    DeployStatus.AWAITING: "⏳ awaiting approval",
    DeployStatus.APPLYING: "🔄 applying",
    DeployStatus.APPLIED: "✅ applied",
    DeployStatus.FAILED: "❌ failed",
    DeployStatus.VOID: "⛔ void",
}


def plan_card(plan: Plan) -> Card:
    problems = plan.problems()
    verdict = "❌ cannot be deployed" if problems else ("✅ ready to deploy" if plan.to_apply else "✅ up to date")
    lines = [f"*Pending ({len(plan.pending)}):* " + (", ".join(f"`{m.file_name}`" for m in plan.pending) or "none")]
    lines.append(f"*Applied:* {len(plan.applied)} migrations in `supabase_migrations.schema_migrations`")
    if plan.commit:
        lines.append(f"*Commit:* `{plan.commit[:12]}` (approvals bind to it)")
    lines += [f"⛔ {p}" for p in problems]
    lines += _findings(plan.findings)
    if plan.bootstrap is not None:
        b = plan.bootstrap
        seeded = " and the seed" if b.seeded else ""
        trips = (
            f"; {b.round_trips} rollback pair(s) round-trip (migration, rollback, migration)" if b.round_trips else ""
        )
        lines.append(
            f"*Clean bootstrap:* ✅ all {b.applied} migrations{seeded} apply from zero in {b.where}{trips}"
            if b.ok
            else f"*Clean bootstrap:* ❌ `{b.file}` fails after {b.applied} migrations in {b.where}: {b.error}"
        )
    next_step = (
        f"Next: `/zdm schema deploy {plan.env}`"
        if plan.to_apply and not problems
        else "Fix the files above, then `/zdm schema plan` again"
        if problems
        else None
    )
    return Card(
        title=f"Schema plan for `{plan.env}`: {verdict}",
        lines=tuple(lines),
        fields=(("Plan hash", f"`{plan.plan_hash}`"), ("To apply", str(len(plan.to_apply)))),
        footer=next_step,
    )


def deploy_card(deploy: Deploy, *, readiness: Readiness | None = None) -> Card:
    lines = ["*Files:* " + ", ".join(f"`{f}`" for f in deploy.files)]
    if deploy.commit:
        lines.append(f"*Commit:* `{deploy.commit[:12]}` (exactly this commit's files are applied)")
    if readiness is not None:
        lines += [readiness.headline(), f"_{readiness.detail()}_"]
    if deploy.needs_approval:
        for role in APPROVER_ROLES:
            got = deploy.approver(role)
            lines.append(
                f"• `{role}`: ✅ <@{got.user}> at {got.at:%Y-%m-%d %H:%M} UTC" if got else f"• `{role}`: waiting"
            )
    if deploy.applied:
        lines.append("*Applied:* " + ", ".join(f"`{v}`" for v in deploy.applied))
    if deploy.error:
        lines.append(f"*Why:* {deploy.error}")
    lines += [f"• {note}" for note in deploy.notes]
    if deploy.reviews:
        lines.append("*Needs review* (the lint cannot see what these run; approving acknowledges them):")
        lines += [f"🔎 {item}" for item in deploy.reviews[:MAX_FINDINGS]]
    buttons: tuple[Button, ...] = ()
    if deploy.status is DeployStatus.AWAITING and deploy.needs_approval:
        value = f"{deploy.id}:{deploy.plan_hash}"
        acknowledge = (
            Confirm(
                "Acknowledge dynamic SQL?",
                f"Approving acknowledges {len(deploy.reviews)} statement(s) the lint cannot see through "
                "(listed on the card): you have read what they run.",
                ok="Approve",
            )
            if deploy.reviews
            else None
        )
        buttons = (
            Button(APPROVE_ACTION, "Approve", value, style="primary", confirm=acknowledge),
            Button(
                CANCEL_ACTION,
                "Cancel",
                value,
                style="danger",
                confirm=Confirm("Cancel this deploy?", "Approvals so far are dropped; nothing is applied."),
            ),
        )
    return Card(
        title=f"Schema deploy #{deploy.id} to `{deploy.env}`: {HEADLINES[deploy.status]}",
        lines=tuple(lines),
        fields=(("Requested by", f"<@{deploy.requester}>"), ("Plan hash", f"`{deploy.plan_hash}`")),
        buttons=buttons,
        footer="Needs one `dba` and one `platform_lead`, two people other than the requester; any change to a "
        "migration file voids the approvals."
        if deploy.status is DeployStatus.AWAITING and deploy.needs_approval
        else None,
    )


def _findings(findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return ["*Lint:* ✅ additive only; squawk found nothing"]
    ordered = sorted(findings, key=lambda f: (not f.blocking, not f.review, f.file, f.line))
    review = sum(f.review and not f.blocking for f in findings)
    advice = sum(not f.blocking for f in findings) - review
    reviewed = f", {review} to review (approving the deploy acknowledges them)" if review else ""
    lines = [f"*Lint:* {sum(f.blocking for f in findings)} blocking{reviewed}, {advice} advice"]
    for f in ordered[:MAX_FINDINGS]:
        mark = "⛔" if f.blocking else "🔎" if f.review else "⚠️"
        statement = f" — `{f.statement}`" if f.statement else ""
        lines.append(f"{mark} `{f.where}` {f.source}/{f.rule}: {f.message}{statement}")
    if len(findings) > MAX_FINDINGS:
        lines.append(f"… and {len(findings) - MAX_FINDINGS} more")
    return lines
