"""Lighthouse ingest on real Postgres, with tickets checked at the local GitHub stand-in and the #release message at
the Slack emulator: thresholds, de-duplication per page and category, archive and state, the watched folder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.executor import TrackingExecutor
from bot.lighthouse import shell_lighthouse
from bot.local.emulator import SlackEmulator
from bot.local.standins import GitHubStandIn
from bot.shell import DemoControls, Shell
from commands.config import RunbookConfig
from commands.lighthouse.report import parse_report
from tests.bot.conftest import card_text
from tests.conftest import ONCALL, SECRET, Databases, make_settings, write_config
from tests.conftest import REPO as CHECKOUT
from tests.fakes import FakeClock

REPO = "icupa/app"
BASELINE = CHECKOUT / "examples" / "icupa" / "lighthouse" / "menu-baseline.json"
DROP = CHECKOUT / "examples" / "icupa" / "lighthouse" / "menu-perf-drop.json"


def lighthouse_config(tmp_path: Path, app_root: Path, lines: str = "") -> RunbookConfig:
    extra = f'[release]\ngithub_repo = "{REPO}"\n\n[lighthouse]\nwatch_dir = "lighthouse-inbox"\n{lines}\n'
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra)


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return lighthouse_config(tmp_path, app_root)


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, github: GitHubStandIn
) -> Iterator[Container]:
    settings = make_settings(dbs, slack, tmp_path, github=github)
    built = build_container(settings, config=config, clock=clock)
    yield built
    built.close()


def report(folder: Path, name: str, *, day: int, **scores: float) -> Path:
    """Our demo baseline, fetched on 2026-11-``day`` at 08:00 UTC, with some category scores (0–1) replaced."""
    raw: dict[str, Any] = json.loads(BASELINE.read_text(encoding="utf-8"))
    raw["fetchTime"] = f"2026-11-{day:02d}T08:00:00.000Z"
    for category, score in scores.items():
        raw["categories"][category.replace("_", "-")]["score"] = score
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return path


def tickets(github: GitHubStandIn) -> list[dict[str, Any]]:
    return [dict(issue) for issue in github.issues.get(REPO, {}).values()]


def release_texts(slack: SlackEmulator) -> list[str]:
    return [card_text(m) for m in slack.in_channel("#release")]


def test_a_drop_of_exactly_five_points_opens_nothing_and_six_opens_one_ticket(
    container: Container, github: GitHubStandIn, slack: SlackEmulator, dbs: Databases, tmp_path: Path, clock: FakeClock
) -> None:
    lighthouse = container.services.lighthouse
    first = lighthouse.ingest(report(tmp_path, "a.json", day=23, performance=0.95), now=clock.now())
    assert first.baseline is None and first.tickets == ()
    five = lighthouse.ingest(report(tmp_path, "b.json", day=24, performance=0.90), now=clock.now())
    assert five.baseline is not None and five.tickets == ()
    assert github.requests("POST") == [] and release_texts(slack) == []

    six = lighthouse.ingest(report(tmp_path, "c.json", day=25, performance=0.84), now=clock.now())  # vs 0.90
    [ticket] = six.tickets
    assert ticket.opened and ticket.url == f"https://github.com/{REPO}/issues/1"
    [post] = github.requests("POST")
    page_key = six.report.page_key
    assert post.path == f"/repos/{REPO}/issues"
    assert post.body["title"] == "Lighthouse: Performance dropped 6 points on http://localhost:3000/menu"
    assert post.body["labels"] == ["incident"]
    body = post.body["body"]
    assert "The Lighthouse **Performance** score of http://localhost:3000/menu fell from **90** to **84**" in body
    assert "- this run: 2026-11-25 08:00:00 UTC (Lighthouse 12.8.2)" in body
    assert "- baseline: 2026-11-24 08:00:00 UTC" in body
    assert "- scores then: Performance 90 · Accessibility 98 · Best Practices 100 · SEO 92" in body
    assert body.endswith(f"<!-- zdm:lighthouse:{page_key}:performance -->")
    [message] = release_texts(slack)
    assert "Lighthouse Performance dropped 6 points" in message
    assert f"<https://github.com/{REPO}/issues/1>" in message and "90 → 84" in message

    # archived under app.root/artifacts/lighthouse/<fetch date>/, byte for byte
    archived = container.services.config.app.root / "artifacts" / "lighthouse" / "2026-11-25"
    assert six.archived == archived / f"080000Z-localhost-3000-menu-{page_key}.json"
    assert six.archived.read_bytes() == (tmp_path / "c.json").read_bytes()
    # and recorded in the state database
    with dbs.state() as conn:
        runs = conn.execute(
            "select fetched_at, scores->>'performance', archive_path, ingested_at from zdm.lighthouse_runs"
            " order by fetched_at"
        ).fetchall()
        drops = conn.execute(
            "select category, baseline, score, ticket_url, opened from zdm.lighthouse_drops"
        ).fetchall()
    assert [(r[0].day, float(r[1])) for r in runs] == [(23, 95.0), (24, 90.0), (25, 84.0)]
    assert runs[2][2] == f"artifacts/lighthouse/2026-11-25/080000Z-localhost-3000-menu-{page_key}.json"
    assert runs[2][3] == clock.now()
    assert [(d[0], float(d[1]), float(d[2]), d[3], d[4]) for d in drops] == [
        ("performance", 90.0, 84.0, ticket.url, True)
    ]


def test_the_same_drop_twice_opens_one_ticket(
    container: Container, github: GitHubStandIn, slack: SlackEmulator, clock: FakeClock
) -> None:
    lighthouse = container.services.lighthouse
    lighthouse.ingest(BASELINE, now=clock.now())
    opened = lighthouse.ingest(DROP, now=clock.now())
    again = lighthouse.ingest(DROP, now=clock.now())  # the same report once more (e.g. re-run by hand)
    assert [t.opened for t in opened.tickets] == [True] and [t.drop.points for t in opened.tickets] == [7]
    assert not again.recorded and again.tickets == ()  # known run: archived, but no ticket and no post again
    assert "(already ingested)" in again.describe()
    assert len(tickets(github)) == 1 and len(release_texts(slack)) == 1
    github.issues["icupa/app"][1]["state"] = "closed"  # the incident is closed; the old report comes in once more
    lighthouse.ingest(DROP, now=clock.now())
    assert len(tickets(github)) == 1 and len(release_texts(slack)) == 1


def test_a_pinned_baseline_keeps_one_ticket_until_it_is_closed(
    tmp_path: Path, app_root: Path, dbs: Databases, slack: SlackEmulator, clock: FakeClock, github: GitHubStandIn
) -> None:
    pinned = report(app_root, "baselines/menu.json", day=1, performance=0.91, seo=0.92)
    config = lighthouse_config(tmp_path, app_root, 'baseline = "pinned"\npinned_reports = ["baselines/menu.json"]')
    settings = make_settings(dbs, slack, tmp_path, github=github)
    container = build_container(settings, config=config, clock=clock)
    try:
        lighthouse = container.services.lighthouse
        first = lighthouse.ingest(report(tmp_path, "d1.json", day=24, performance=0.84), now=clock.now())
        second = lighthouse.ingest(report(tmp_path, "d2.json", day=25, performance=0.80, seo=0.80), now=clock.now())
        pinned_at = parse_report(pinned.read_bytes(), name=pinned.name).fetched_at
        assert first.baseline is not None and first.baseline.fetched_at == pinned_at
        assert [(t.drop.category, t.opened) for t in first.tickets] == [("performance", True)]
        assert [(t.drop.category, t.opened) for t in second.tickets] == [("performance", False), ("seo", True)]
        titles = [t["title"].split(" dropped")[0] for t in tickets(github)]
        assert titles == ["Lighthouse: Performance", "Lighthouse: SEO"]

        github.issues[REPO][1]["state"] = "closed"  # someone fixed it and closed the ticket
        third = lighthouse.ingest(report(tmp_path, "d3.json", day=26, performance=0.83), now=clock.now())
        assert [(t.drop.category, t.opened, t.url) for t in third.tickets] == [
            ("performance", True, f"https://github.com/{REPO}/issues/3")
        ]
        finds = [r for r in github.requests("GET") if r.path == f"/repos/{REPO}/issues"]
        assert {tuple(r.query["state"]) for r in finds} == {("open",)}
        assert {tuple(r.query["labels"]) for r in finds} == {("incident",)}
    finally:
        container.close()


def test_the_watched_folder_is_ingested_by_the_scheduler_job(
    container: Container, github: GitHubStandIn, slack: SlackEmulator, clock: FakeClock, dbs: Databases
) -> None:
    inbox = container.services.config.app.root / "lighthouse-inbox"
    inbox.mkdir()
    (inbox / "1-baseline.json").write_bytes(BASELINE.read_bytes())
    (inbox / "2-drop.json").write_bytes(DROP.read_bytes())
    (inbox / "3-broken.json").write_text("{ half a report", encoding="utf-8")
    (inbox / "notes.txt").write_text("not a report", encoding="utf-8")
    job = container.services.scheduled_jobs()["watch_lighthouse"]
    job(clock.now())
    assert sorted(p.name for p in inbox.iterdir()) == ["3-broken.json.rejected", "notes.txt"]
    [ticket] = tickets(github)
    assert ticket["title"] == "Lighthouse: Performance dropped 7 points on http://localhost:3000/menu"
    archive = container.services.config.app.root / "artifacts" / "lighthouse"
    assert sorted(p.name for p in archive.iterdir()) == ["2026-11-24", "2026-11-25"]
    ticket_message, failure = release_texts(slack)
    assert "Lighthouse Performance dropped 7 points" in ticket_message
    assert "Lighthouse ingest failed" in failure and "`3-broken.json` is not a Lighthouse JSON report" in failure
    job(clock.now())  # nothing new: nothing happens
    assert len(tickets(github)) == 1 and len(release_texts(slack)) == 2
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.lighthouse_runs").fetchone() == (2,)


def test_demo_reports_drop_seven_performance_points() -> None:
    baseline, drop = (parse_report(p.read_bytes(), name=p.name) for p in (BASELINE, DROP))
    assert drop.fetched_at > baseline.fetched_at == datetime(2026, 11, 24, 8, tzinfo=UTC)
    assert {c: b - s for c, s in drop.scores.items() if s is not None and (b := baseline.scores[c]) is not None} == {
        "performance": 7.0,
        "accessibility": 0.0,
        "best-practices": 0.0,
        "seo": 0.0,
    }


def test_the_shell_command_ingests_a_report_relative_to_the_app_checkout(
    container: Container, github: GitHubStandIn, slack: SlackEmulator, clock: FakeClock
) -> None:
    root = container.services.config.app.root
    for source in (BASELINE, DROP):
        (root / "lighthouse").mkdir(exist_ok=True)
        (root / "lighthouse" / source.name).write_bytes(source.read_bytes())
    out, executor = io.StringIO(), TrackingExecutor()
    shell = Shell(app=build_app(container, executor=executor), emulator=slack, signing_secret=SECRET,
                  executor=executor, user=ONCALL, out=out,
                  demo=DemoControls(lighthouse=lambda path: shell_lighthouse(container, clock, path)))  # fmt: skip
    shell.run(["lighthouse lighthouse/menu-baseline.json", "lighthouse lighthouse/menu-perf-drop.json"], prompt=False)
    text = out.getvalue()
    assert "no baseline for this page yet" in text
    assert "── #release ──\n*🚨 Lighthouse Performance dropped 7 points*" in text
    assert f"Performance dropped 7 points: incident ticket opened: https://github.com/{REPO}/issues/1" in text
    assert len(tickets(github)) == 1


def test_zdm_lighthouse_ingest_on_the_command_line(
    dbs: Databases, config: RunbookConfig, github: GitHubStandIn, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ZDM_STATE_DATABASE_URL": dbs.state_url,
        "ZDM_TARGET_DATABASE_URL": dbs.target_url,
        "ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml"),
        "ZDM_DATA_DIR": str(tmp_path / "data"),
        "ZDM_GITHUB_TOKEN": "ghp-test",
        "ZDM_GITHUB_API_URL": github.url,
    }

    def zdm(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "bot", "lighthouse", "ingest", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert zdm(str(BASELINE)).returncode == 0
    dropped = zdm(str(DROP))
    assert dropped.returncode == 0, dropped.stderr
    assert f"Performance dropped 7 points: incident ticket opened: https://github.com/{REPO}/issues/1" in dropped.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("[]", encoding="utf-8")
    refused = zdm(str(broken))
    assert refused.returncode == 2
    sentence = "zdm: `broken.json` is not a Lighthouse JSON report: it is not a JSON object."
    assert refused.stderr.strip().endswith(sentence)
    assert [t["title"] for t in tickets(github)] == [
        "Lighthouse: Performance dropped 7 points on http://localhost:3000/menu"
    ]


def test_reports_with_an_out_of_range_time_or_a_nul_in_the_url_are_rejected_without_blocking_the_folder(
    container: Container, github: GitHubStandIn, slack: SlackEmulator, clock: FakeClock, dbs: Databases
) -> None:
    inbox = container.services.config.app.root / "lighthouse-inbox"
    inbox.mkdir()
    early = json.loads(BASELINE.read_text(encoding="utf-8")) | {"fetchTime": "0001-01-01T00:00:00+01:00"}
    nul = json.loads(BASELINE.read_text(encoding="utf-8")) | {"finalDisplayedUrl": "http://localhost:3000/me\u0000nu"}
    (inbox / "0-early.json").write_text(json.dumps(early), encoding="utf-8")
    (inbox / "1-nul.json").write_text(json.dumps(nul), encoding="utf-8")
    (inbox / "2-baseline.json").write_bytes(BASELINE.read_bytes())
    container.services.scheduled_jobs()["watch_lighthouse"](clock.now())
    assert sorted(p.name for p in inbox.iterdir()) == ["0-early.json.rejected", "1-nul.json.rejected"]
    failures = "\n".join(release_texts(slack))
    assert (
        "`0-early.json` is not a Lighthouse JSON report: `fetchTime` '0001-01-01T00:00:00+01:00' is out of range"
        in (failures)
    )
    assert "`1-nul.json` is not a Lighthouse JSON report: its page URL cannot be stored" in failures
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.lighthouse_runs").fetchone() == (1,)
