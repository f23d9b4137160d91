"""PromQL templates and Prometheus HTTP API responses (pure: no I/O).

A KPI query in zdm.toml is PromQL with two placeholders:

- ``$tenants``: the tenant slugs as a regular-expression alternation (``demo_icupa|pilot_a``), each slug escaped
  for RE2 and the whole escaped for a double-quoted PromQL string. Write it inside a regex matcher:
  ``{tenant=~"$tenants"}`` (Prometheus anchors the regex, so it matches exactly these slugs).
- ``$window``: the reading window's length as a Prometheus duration (``5m``, ``90s``, ``1500ms``). Write it in a
  range selector: ``increase(http_requests_total{…}[$window])``.

Responses follow https://prometheus.io/docs/prometheus/latest/querying/api/: ``{"status": "success",
"data": {"resultType": "vector" | "matrix" | "scalar", "result": …}}`` with sample values as strings (``"NaN"``
and ``"+Inf"`` included), or ``{"status": "error", "errorType": …, "error": …}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from commands.kpi_config import PLACEHOLDER  # the placeholders are part of the [kpi] configuration

_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


class PromResponseError(Exception):
    """A Prometheus answer zdm cannot use; ``str()`` is the reason, ready for a sentence."""


def tenant_regex(tenants: Sequence[str]) -> str:
    """``a|b`` with RE2 metacharacters escaped, then escaped for a double-quoted PromQL string literal."""
    alternation = "|".join(_RE2_SPECIAL.sub(r"\\\1", slug) for slug in sorted(set(tenants)))
    return alternation.replace("\\", "\\\\").replace('"', '\\"')


def prom_duration(delta: timedelta) -> str:
    """A Prometheus duration for ``delta``: the largest unit that divides it (``5m``, ``90s``, ``1500ms``)."""
    ms = round(delta.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError("a Prometheus duration must be longer than 0 ms")
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def render(query: str, *, tenants: Sequence[str], window: timedelta) -> str:
    """``query`` with ``$tenants`` and ``$window`` filled in."""
    values = {"tenants": tenant_regex(tenants), "window": prom_duration(window)}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), query.strip())


def step_windows(windows: Sequence[tuple[datetime, datetime]]) -> timedelta | None:
    """The common length when there are several consecutive windows of equal length (one range query), else
    None (one instant query per window)."""
    if len(windows) < 2:
        return None
    length = windows[0][1] - windows[0][0]
    if length <= timedelta(0):
        return None
    for (since, until), (next_since, _next_until) in pairwise(windows):
        if until - since != length or next_since != until:
            return None
    if windows[-1][1] - windows[-1][0] != length:
        return None
    return length


def prom_time(at: datetime) -> str:
    """An RFC 3339-compatible unix timestamp with millisecond precision, as the API accepts."""
    return f"{at.timestamp():.3f}"


def sample_value(raw: object) -> float:
    """A sample value string (``"12"``, ``"NaN"``, ``"+Inf"``) as a float."""
    try:
        return float(str(raw))
    except ValueError as exc:
        raise PromResponseError(f"the sample value {raw!r} is not a number") from exc


def parse_instant(payload: object) -> float | None:
    """The single value of an instant query; None when the result is empty (no data)."""
    data = _data(payload)
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return sample_value(result[1])
    if kind != "vector" or not isinstance(result, list):
        raise PromResponseError(f"expected an instant vector, got {kind!r}")
    if not result:
        return None
    if len(result) > 1:
        raise PromResponseError(f"the query returned {len(result)} series; aggregate it to one, e.g. with sum(…)")
    value = result[0].get("value") if isinstance(result[0], dict) else None
    if not isinstance(value, list) or len(value) != 2:
        raise PromResponseError("a vector sample has no [time, value] pair")
    return sample_value(value[1])


def parse_range(payload: object) -> dict[int, float]:
    """The points of a range query's single series, keyed by timestamp in milliseconds (empty: no data)."""
    data = _data(payload)
    kind, result = data.get("resultType"), data.get("result")
    if kind != "matrix" or not isinstance(result, list):
        raise PromResponseError(f"expected a range vector (matrix), got {kind!r}")
    if not result:
        return {}
    if len(result) > 1:
        raise PromResponseError(f"the query returned {len(result)} series; aggregate it to one, e.g. with sum(…)")
    values = result[0].get("values") if isinstance(result[0], dict) else None
    if not isinstance(values, list):
        raise PromResponseError("a matrix series has no values")
    points: dict[int, float] = {}
    for point in values:
        if not isinstance(point, list) or len(point) != 2:
            raise PromResponseError("a matrix point is not a [time, value] pair")
        points[round(float(point[0]) * 1000)] = sample_value(point[1])
    return points


def count(value: float | None) -> int:
    """A counter reading as a whole number: no data and NaN are 0 (``increase()`` extrapolates, so round)."""
    if value is None or math.isnan(value):
        return 0
    if math.isinf(value):
        raise PromResponseError("a count query returned an infinite value")
    return max(0, round(value))


def latency(value: float | None) -> float | None:
    """A latency reading: no data and NaN (``histogram_quantile`` over no observations) are None."""
    return None if value is None or math.isnan(value) else value


def _data(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise PromResponseError("the answer is not a JSON object")
    if payload.get("status") == "error":
        kind, error = payload.get("errorType") or "error", str(payload.get("error") or "no detail").strip()
        raise PromResponseError(f"{kind}: {error}")
    data = payload.get("data")
    if payload.get("status") != "success" or not isinstance(data, dict):
        raise PromResponseError("the answer has neither status 'success' with data nor status 'error'")
    return data
