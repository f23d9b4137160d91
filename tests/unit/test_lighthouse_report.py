"""Reading Lighthouse JSON reports (LHR) and finding score drops: our own small reports, and the real sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.lighthouse.report import InvalidReport, archive_name, drops, marker, parse_report

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "examples" / "icupa" / "lighthouse" / "menu-baseline.json"
SHARED_SAMPLE = REPO.parent / "shared" / "fixtures" / "lighthouse" / "sample_v2.json"


def lhr(**scores: float | None) -> dict[str, Any]:
    """The demo's baseline report with some category scores replaced (0–1, or None)."""
    raw: dict[str, Any] = json.loads(BASELINE.read_text(encoding="utf-8"))
    for category, score in scores.items():
        raw["categories"].setdefault(category, {"id": category, "title": category.title(), "auditRefs": []})
        raw["categories"][category]["score"] = score
    return raw


def parse(raw: dict[str, Any]) -> Any:
    return parse_report(json.dumps(raw), name="report.json")


def test_our_report_is_read_with_scores_in_points() -> None:
    report = parse(lhr())
    assert report.page == "http://localhost:3000/menu"
    assert report.fetched_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert report.scores == {"performance": 91.0, "accessibility": 98.0, "best-practices": 100.0, "seo": 92.0}
    assert report.titles["best-practices"] == "Best Practices"
    assert report.version == "12.8.2"


def test_the_page_falls_back_from_final_displayed_to_final_to_requested_url() -> None:
    raw = lhr()
    del raw["finalDisplayedUrl"]
    raw["finalUrl"] = "http://localhost:3000/menu?redirected"
    assert parse(raw).page == "http://localhost:3000/menu?redirected"
    del raw["finalUrl"]
    assert parse(raw).page == "http://localhost:3000/menu"


def test_a_drop_counts_only_above_the_threshold() -> None:
    baseline = parse(lhr(performance=0.95, seo=0.92))
    exactly_five = parse(lhr(performance=0.90, seo=0.92))  # 0.95 → 0.90 is 5.000000000000004 in floats
    assert drops(exactly_five, baseline, more_than=5) == []
    six = parse(lhr(performance=0.89, seo=0.80))
    found = drops(six, baseline, more_than=5)
    assert [(d.category, d.title, d.baseline, d.score, d.points) for d in found] == [
        ("performance", "Performance", 95.0, 89.0, 6.0),
        ("seo", "SEO", 92.0, 80.0, 12.0),
    ]
    assert drops(parse(lhr(performance=0.99)), baseline, more_than=5) == []  # a rise is no drop


def test_unscored_and_unknown_categories() -> None:
    baseline = parse(lhr(**{"agentic-browsing": 0.70, "pwa": 0.5}))
    current = parse(lhr(**{"agentic-browsing": 0.60, "pwa": None, "new-category": 0.1}))
    assert current.scores["pwa"] is None
    assert [d.category for d in drops(current, baseline, more_than=5)] == ["agentic-browsing"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda raw: raw.pop("categories"), "it has no `categories`"),
        (lambda raw: raw["categories"]["seo"].update(score=1.5), "category `seo` has score 1.5, not a number"),
        (lambda raw: raw.update(fetchTime="yesterday"), "`fetchTime` 'yesterday' is not a time"),
        (
            lambda raw: [raw.pop(k) for k in ("finalDisplayedUrl", "finalUrl", "requestedUrl")],
            "it names no page",
        ),
    ],
)
def test_what_is_not_a_report_is_refused_in_one_sentence(change: Any, why: str) -> None:
    raw = lhr()
    change(raw)
    with pytest.raises(InvalidReport, match=rf"^`report.json` is not a Lighthouse JSON report: {why}"):
        parse(raw)
    with pytest.raises(InvalidReport, match="it is not valid JSON"):
        parse_report(b"{not json", name="report.json")


def test_archive_name_and_marker_are_stable_per_page() -> None:
    report = parse(lhr())
    assert archive_name(report) == f"080000Z-localhost-3000-menu-{report.page_key}.json"
    assert marker(report, "performance") == f"<!-- zdm:lighthouse:{report.page_key}:performance -->"
    assert report.page_key == parse(lhr(performance=0.1)).page_key


@pytest.mark.skipif(not SHARED_SAMPLE.exists(), reason="the shared Lighthouse sample report is not here")
def test_the_real_lighthouse_sample_report() -> None:
    report = parse_report(SHARED_SAMPLE.read_bytes(), name=SHARED_SAMPLE.name)
    assert report.page == "http://localhost:10200/dobetterweb/dbw_tester.html"
    assert report.fetched_at == datetime(2026, 4, 23, 16, 18, 53, 230000, tzinfo=UTC)
    assert report.version == "13.4.1"
    assert report.scores == {
        "performance": 32.0,
        "accessibility": 75.0,
        "best-practices": 31.0,
        "seo": 75.0,
        "agentic-browsing": 30.0,  # a category newer than zdm
    }
