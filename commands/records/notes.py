"""Release notes drafted from what zdm recorded, written as one marked block per file (idempotent).

The block sits between ``<!-- zdm:notes:<release> -->`` and ``<!-- /zdm:notes:<release> -->``: writing again
replaces only that block; text written by people is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commands.backfill.model import BackfillRun
from commands.rollback.model import Rollback
from commands.rollout.model import Rollout, StepStatus
from commands.schema.model import Deploy


@dataclass(frozen=True)
class Recorded:
    release: str
    title: str
    flag: str
    deploys: Sequence[Deploy]
    backfills: Sequence[BackfillRun]
    rollout: Rollout | None
    rollbacks: Sequence[Rollback]
    alerts: Sequence[str] = ()  # "`error_rate` firing 2026-11-25 18:17 UTC at 1.50 %", oldest first
    break_glass: Sequence[str] = ()  # one line per gate skipped with a second person's confirmation


def notes_lines(facts: Recorded, *, now: datetime) -> list[str]:
    lines = [f"### {facts.title} (`{facts.release}`) — drafted by zdm on {now:%Y-%m-%d %H:%M} UTC", ""]
    for d in facts.deploys:
        approved = ", ".join(f"{a.user} ({a.role})" for a in d.approvals) or "no approval required"
        when = f"{d.finished_at:%Y-%m-%d %H:%M} UTC" if d.finished_at else "?"
        lines.append(
            f"- Schema deploy #{d.id} to `{d.env}` applied " + ", ".join(f"`{v}`" for v in d.applied)
            + f" on {when}; approved by {approved}"
        )  # fmt: skip
    if not facts.deploys:
        lines.append("- Schema: no schema deploy of this release recorded by zdm")
    for run in facts.backfills:
        total = f"{run.total:,} rows" if run.total is not None else "rows unknown"
        lines.append(
            f"- Backfill `{run.job}` on `{run.env}` (run #{run.id}): {run.status.value}, {total} to do at the start, "
            f"{run.runtime.total_seconds() / 60:.1f} min running, started {run.created_at:%Y-%m-%d %H:%M} UTC"
        )
    if facts.rollout is None:
        lines.append(f"- Rollout of `{facts.flag}`: not started")
    else:
        r = facts.rollout
        lines.append(
            f"- Rollout #{r.id} of `{facts.flag}` ({r.status.value}), started {r.started_at:%Y-%m-%d %H:%M} UTC"
        )
        for step, state in zip(r.plan, r.steps, strict=False):
            if state.status in (StepStatus.DONE, StepStatus.SKIPPED) and state.flipped_at:
                lines.append(
                    f"  - {step.name}: {len(state.enabled)} tenant(s) enabled {state.flipped_at:%Y-%m-%d %H:%M} UTC"
                )
    for rb in facts.rollbacks:
        lines.append(
            f"- Rollback of `{rb.tenant}` on {rb.created_at:%Y-%m-%d %H:%M} UTC by {rb.requested_by}: {rb.reason}"
        )
    if not facts.rollbacks:
        lines.append("- Rollbacks: none")
    lines += [f"- Alert {alert}" for alert in facts.alerts] or ["- Alerts: none fired"]
    lines += [f"- 🔓 Break-glass {used}" for used in facts.break_glass] or ["- Break-glass: none used"]
    return lines


def upsert_block(text: str, *, release: str, block: list[str], heading: str | None) -> str:
    """``text`` with the release's marked block replaced, or added under ``heading`` (created at the end when
    missing; ``None``: appended at the end)."""
    begin, end = f"<!-- zdm:notes:{release} -->", f"<!-- /zdm:notes:{release} -->"
    marked = [begin, *block, end]
    lines = text.splitlines()
    if begin in lines and end in lines[lines.index(begin) :]:
        start = lines.index(begin)
        stop = lines.index(end, start)
        lines[start : stop + 1] = marked
    elif heading is not None and (at := _heading(lines, heading)) is not None:
        lines[at + 1 : at + 1] = ["", *marked]
    else:
        if heading is not None:
            lines += ["", f"## {heading}"]
        lines += ["", *marked]
    return "\n".join(lines).lstrip("\n") + "\n"


def _heading(lines: list[str], heading: str) -> int | None:
    for i, line in enumerate(lines):
        if line.lstrip("#").strip().lower() == heading.lower() and line.startswith("#"):
            return i
    return None
