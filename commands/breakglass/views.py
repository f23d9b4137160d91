"""The break-glass card in the release channel (updated in place) and the 🔓 announcement."""

from __future__ import annotations

from commands.breakglass.model import BreakGlass, BreakGlassStatus
from commands.cards import Button, Card, Confirm, mention

CONFIRM_ACTION = "zdm_break_glass_confirm"
CANCEL_ACTION = "zdm_break_glass_cancel"

HEADLINES = {
    BreakGlassStatus.AWAITING: "⏳ waiting for a second person",
    BreakGlassStatus.CONFIRMED: "🔄 confirmed, running",
    BreakGlassStatus.DONE: "🔓 done",
    BreakGlassStatus.FAILED: "❌ confirmed, but the action did not run",
    BreakGlassStatus.CANCELLED: "⛔ cancelled",
}


def break_glass_card(request: BreakGlass) -> Card:
    skip = request.skip
    lines = [
        f"*Asked by* {mention(request.requested_by)}: {skip.what}",
        "*Gates skipped:*",
        *(f"• {gate}" for gate in skip.gates),
        f"*Why:* {request.reason}",
    ]
    if request.status is BreakGlassStatus.AWAITING:
        lines.append(f"Needs a `{request.role}` other than {mention(request.requested_by)} to confirm.")
    elif request.status is BreakGlassStatus.CANCELLED:
        lines.append(f"Cancelled by {mention(request.confirmed_by or '?')}; nothing was done.")
    else:
        lines.append(f"Confirmed by {mention(request.confirmed_by or '?')}.")
    if request.outcome:
        lines.append(f"*Outcome:* {request.outcome}")
    buttons: tuple[Button, ...] = ()
    if request.status is BreakGlassStatus.AWAITING:
        value = str(request.id)
        gates = "; ".join(skip.gates)
        buttons = (
            Button(
                CONFIRM_ACTION,
                "Confirm break-glass",
                value,
                style="danger",
                confirm=Confirm(
                    title="Skip these gates?",
                    text=f"{skip.what[:200]} skipping: {gates[:250]}. Recorded with your name.",
                    ok="Confirm",
                ),
            ),
            Button(CANCEL_ACTION, "Cancel", value),
        )
    return Card(
        title=f"🔓 Break-glass #{request.id}: {HEADLINES[request.status]}",
        lines=tuple(lines),
        buttons=buttons,
        footer=f"break-glass #{request.id} · {request.action}",
    )


def announcement(request: BreakGlass) -> str:
    """The 🔓 line in the release channel once the action ran."""
    gates = "; ".join(request.skip.gates)
    return (
        f"🔓 Break-glass #{request.id} used: {request.skip.what}, skipping {gates} — asked by "
        f"{mention(request.requested_by)}, confirmed by {mention(request.confirmed_by or '?')}: {request.reason}"
    )
