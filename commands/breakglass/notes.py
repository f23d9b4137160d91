"""Break-glass uses as release-notes lines, from the audit rows zdm wrote when each was confirmed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from commands.breakglass.model import USED


def break_glass_uses(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``#3 on 2026-12-05 15:40 UTC: approve step 2 … skipping KPI gate — …; asked by U1, confirmed by U2: why``."""
    lines = []
    for row in rows:
        if row.get("action") != USED or row.get("outcome") != "ok":
            continue
        detail = row.get("detail") or {}
        at = row.get("at")
        when = f" on {at:%Y-%m-%d %H:%M} UTC" if isinstance(at, datetime) else ""
        gates = "; ".join(detail.get("gates") or ()) or "no gate recorded"
        lines.append(
            f"#{detail.get('break_glass_id')}{when}: {detail.get('what')} skipping {gates}; asked by "
            f"{detail.get('requested_by')}, confirmed by {detail.get('confirmed_by')}: {detail.get('reason')}"
        )
    return lines
