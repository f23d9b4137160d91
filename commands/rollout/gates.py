"""KPI gates (pure): readings in consecutive windows → pass / fail / no data, with the table shown on cards.

A gate *holds* when every window of ``gates.window`` within the last ``gates.hold_for`` passes — "must hold for N
minutes" as consecutive readings. A window with fewer than ``min_samples`` requests has no data; no data is its
own state and blocks unless ``no_data = "pass"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commands.rollout.config import GatesConfig, format_duration


@dataclass(frozen=True)
class KpiReading:
    since: datetime
    until: datetime
    samples: int
    errors: int
    p95_ms: float | None
    guardrail_breaches: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.samples if self.samples else 0.0


class GateState(StrEnum):
    PASS = "pass"  # noqa: S105 - a gate state, not a password
    FAIL = "fail"
    NO_DATA = "no data"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class KpiRow:
    name: str
    value: str
    threshold: str
    state: GateState


@dataclass(frozen=True)
class GateReport:
    state: GateState
    rows: tuple[KpiRow, ...]
    tenants: int
    window: str
    no_data_passes: bool = False

    @property
    def blocks(self) -> bool:
        """True when the gate forbids a flip now."""
        return self.state == GateState.FAIL or (self.state == GateState.NO_DATA and not self.no_data_passes)

    @property
    def breached(self) -> bool:
        """A real breach (not just missing data): what auto-pauses a waiting rollout."""
        return self.state == GateState.FAIL

    def failing_sentence(self) -> str:
        bad = [r for r in self.rows if r.state in (GateState.FAIL, GateState.NO_DATA)]
        parts = [
            f"{r.name} {r.value} (needs {r.threshold})" if r.state == GateState.FAIL else f"{r.name}: no data"
            for r in bad
        ]
        return "; ".join(parts) or "all gates pass"


def windows(now: datetime, gates: GatesConfig) -> list[tuple[datetime, datetime]]:
    """The consecutive reading windows ending at ``now``, oldest first."""
    count = gates.readings
    return [(now - gates.window * (count - i), now - gates.window * (count - i - 1)) for i in range(count)]


def evaluate(readings: Sequence[KpiReading], gates: GatesConfig, *, tenants: int) -> GateReport:
    span = f"{format_duration(gates.hold_for)} in {format_duration(gates.window)} windows"
    if tenants == 0:
        return GateReport(GateState.NOT_APPLICABLE, (), 0, span, gates.no_data == "pass")
    with_data = [r for r in readings if r.samples >= gates.min_samples]
    missing = len(readings) - len(with_data)
    rows = (
        _row(
            "error rate",
            with_data,
            missing,
            lambda r: r.error_rate,
            lambda v: v < gates.error_rate_below,
            lambda v: f"{v * 100:.2f} %",
            f"< {gates.error_rate_below * 100:g} %",
        ),
        _row(
            "P95 latency",
            [r for r in with_data if r.p95_ms is not None],
            missing,
            lambda r: r.p95_ms or 0.0,
            lambda v: v < gates.p95_ms_below,
            lambda v: f"{v:.0f} ms",
            f"< {gates.p95_ms_below:g} ms",
        ),
        _row(
            "AI-guardrail breaches",
            with_data,
            missing,
            lambda r: float(r.guardrail_breaches),
            lambda v: v <= gates.guardrail_breaches_at_most,
            lambda v: f"{v:.0f}",
            f"≤ {gates.guardrail_breaches_at_most}",
        ),
        KpiRow(
            "samples",
            f"{min((r.samples for r in readings), default=0)} in the thinnest window",
            f"≥ {gates.min_samples} per window",
            GateState.PASS if not missing else GateState.NO_DATA,
        ),
    )
    states = {r.state for r in rows}
    state = GateState.FAIL if GateState.FAIL in states else GateState.NO_DATA if missing else GateState.PASS
    return GateReport(state, rows, tenants, span, gates.no_data == "pass")


def _row(
    name: str,
    readings: Sequence[KpiReading],
    missing: int,
    value: Callable[[KpiReading], float],
    ok: Callable[[float], bool],
    shown: Callable[[float], str],
    threshold: str,
) -> KpiRow:
    if not readings:
        return KpiRow(name, "—", threshold, GateState.NO_DATA)
    worst = max(value(r) for r in readings)
    if not ok(worst):
        return KpiRow(name, shown(worst), threshold, GateState.FAIL)
    return KpiRow(name, shown(worst), threshold, GateState.NO_DATA if missing else GateState.PASS)
