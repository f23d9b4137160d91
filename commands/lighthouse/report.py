"""Lighthouse JSON reports (LHR) and score drops (pure).

An LHR holds ``categories.<id>.score`` (0–1, or null when Lighthouse could not score it), ``fetchTime`` and the
page (``finalDisplayedUrl``, older ``finalUrl``, else ``requestedUrl``). Category ids zdm does not know (newer
Lighthouse versions add some) are kept and compared like the others. Scores are compared in points (score × 100):
a category whose score fell by *more than* the threshold (5 by default; exactly 5 does not count) has dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from commands.errors import UserError
from commands.text import printable, unreadable

MAX_URL = 2048
MAX_LABEL = 200


class InvalidReport(UserError):
    def __init__(self, *, name: str, why: str) -> None:
        super().__init__(f"`{name}` is not a Lighthouse JSON report: {why}.")
        self.name = name


@dataclass(frozen=True)
class Report:
    page: str
    fetched_at: datetime
    scores: Mapping[str, float | None]  # category id → points (0–100, two decimals), None when unscored
    titles: Mapping[str, str]
    version: str

    @property
    def page_key(self) -> str:
        """A short stable id of the page, for ticket markers and archive file names."""
        return hashlib.sha256(self.page.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Drop:
    category: str
    title: str
    baseline: float
    score: float

    @property
    def points(self) -> float:
        return round(self.baseline - self.score, 2)


@dataclass(frozen=True)
class Ticketed:
    """A drop and its incident ticket: opened now, or an open one found for the same page and category."""

    drop: Drop
    url: str
    opened: bool


def parse_report(data: bytes | str, *, name: str) -> Report:
    """Read an LHR; raise ``InvalidReport`` (one sentence) when it is not one."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidReport(name=name, why="it is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise InvalidReport(name=name, why="it is not a JSON object")
    categories = raw.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise InvalidReport(name=name, why="it has no `categories`")
    page = next((raw[k] for k in ("finalDisplayedUrl", "finalUrl", "requestedUrl") if isinstance(raw.get(k), str)), "")
    if not page:
        raise InvalidReport(name=name, why="it names no page (`finalDisplayedUrl`, `finalUrl` or `requestedUrl`)")
    _readable(page, name=name, what="its page URL", limit=MAX_URL)
    scores: dict[str, float | None] = {}
    titles: dict[str, str] = {}
    for key, category in categories.items():
        if not isinstance(category, dict):
            raise InvalidReport(name=name, why=f"category `{key}` is not an object")
        cid = _readable(str(category.get("id") or key), name=name, what="a category id", limit=MAX_LABEL)
        titles[cid] = _readable(
            str(category.get("title") or cid), name=name, what=f"the title of `{cid}`", limit=MAX_LABEL
        )
        scores[cid] = _points(category.get("score"), name=name, category=cid)
    return Report(
        page=page,
        fetched_at=_fetch_time(raw.get("fetchTime"), name=name),
        scores=scores,
        titles=titles,
        version=_readable(
            str(raw.get("lighthouseVersion") or "unknown"), name=name, what="its version", limit=MAX_LABEL
        ),
    )


def _readable(value: str, *, name: str, what: str, limit: int) -> str:
    """Text from the report that zdm stores and shows: no NUL or other control characters, bounded length."""
    why = unreadable(value, limit=limit)
    if why is not None:
        raise InvalidReport(name=name, why=f"{what} cannot be stored: {why}")
    return value


def drops(current: Report, baseline: Report, *, more_than: float) -> list[Drop]:
    """Categories scored in both reports whose score fell by more than ``more_than`` points."""
    found = []
    for category, score in current.scores.items():
        before = baseline.scores.get(category)
        if score is None or before is None:
            continue
        if round(before - score, 2) > more_than:
            found.append(Drop(category, current.titles.get(category, category), before, score))
    return found


def archive_name(report: Report) -> str:
    """``<HHMMSS>Z-<host-and-path>-<page key>.json``: sortable within its date folder, unique per page and time."""
    readable = re.sub(r"^[a-z]+://", "", report.page.lower())
    readable = re.sub(r"[^a-z0-9]+", "-", readable).strip("-")[:60] or "page"
    return f"{report.fetched_at:%H%M%S}Z-{readable}-{report.page_key}.json"


def marker(report: Report, category: str) -> str:
    """The invisible marker that makes one incident ticket per page and category."""
    return f"<!-- zdm:lighthouse:{report.page_key}:{category} -->"


def _points(value: Any, *, name: str, category: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidReport(name=name, why=f"category `{category}` has score {value!r}, not a number from 0 to 1")
    return round(float(value) * 100, 2)


def _fetch_time(value: Any, *, name: str) -> datetime:
    shown = printable(repr(value), limit=60)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError as exc:
        raise InvalidReport(name=name, why=f"`fetchTime` {shown} is not a time") from exc
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable UTC time
        raise InvalidReport(name=name, why=f"`fetchTime` {shown} is out of range") from exc


CATEGORY_ORDER = ("performance", "accessibility", "best-practices", "seo")


def summary(scores: Mapping[str, float | None], titles: Mapping[str, str]) -> str:
    """``Performance 91 · Accessibility 100 · SEO –``: Lighthouse's usual order first, then the others by id."""
    order = sorted(scores, key=lambda c: (CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else len(CATEGORY_ORDER), c))
    return " · ".join(f"{titles.get(c, c)} {'–' if scores[c] is None else f'{scores[c]:g}'}" for c in order)
