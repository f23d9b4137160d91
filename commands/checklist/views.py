"""The checklist card: zdm's own checks with their evidence, the people's confirmations as checkboxes, and what
blocks the migration."""

from __future__ import annotations

from commands.cards import Card, Checkboxes, CheckOption
from commands.checklist.model import Checklist

TICK_ACTION = "zdm_checklist_tick"
BLOCK_PREFIX = "zdm_checklist:"


def checklist_card(checklist: Checklist, *, enforce: str = "warn") -> Card:
    blockers = checklist.blockers
    verdict = "✅ complete" if not blockers else f"⛔ {len(blockers)} item(s) block the migration"
    lines = ["*Checked by zdm in the checkout:*"]
    for check in checklist.checks:
        mark = "✅" if check.ok else "❌"
        lines.append(f"{mark} {check.text} — " + ", ".join(check.evidence))
    lines.append("*Confirmed by a person* (tick the box; each item names who may):")
    options = []
    for c in checklist.confirmations:
        who = " or ".join(f"`{r}`" for r in c.item.roles)
        if c.tick is not None and c.ticked:
            state = f"☑ by <@{c.tick.actor}> at {c.tick.at:%Y-%m-%d %H:%M} UTC"
            note = f"by {c.tick.actor} at {c.tick.at:%Y-%m-%d %H:%M} UTC"
        elif not c.required:
            state = note = "not needed: no high-volume table touched"
        else:
            untick = f" (unticked by <@{c.tick.actor}> at {c.tick.at:%Y-%m-%d %H:%M} UTC)" if c.tick else ""
            state, note = f"☐ waiting for {who}{untick}", f"needs {who.replace('`', '')}"
        lines.append(f"• {c.item.text} — {state}")
        options.append(CheckOption(value=c.item.key, label=c.item.text, checked=c.ticked, description=note))
    if blockers:
        lines.append("*Blocks the migration:*")
        lines += [f"⛔ {b}" for b in blockers]
    title = checklist.title if checklist.title != checklist.release else ""
    return Card(
        title=f"Pre-migration checklist for `{checklist.release}`{f' ({title})' if title else ''}: {verdict}",
        lines=tuple(lines),
        checkboxes=Checkboxes(TICK_ACTION, BLOCK_PREFIX + checklist.release, tuple(options)),
        footer="Runbook §1. A schema deploy or rollout of this release "
        + ("is refused" if enforce == "refuse" else "warns")
        + " while the checklist is incomplete.",
    )
