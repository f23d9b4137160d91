"""`/zdm notes` and `/zdm archive` through real Bolt requests, from what zdm recorded in Postgres."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from commands.config import RunbookConfig
from tests.bot.test_cleanup import finished_rollout
from tests.conftest import ONCALL, BotServer, Databases, write_config
from tests.fakes import FakeClock

CHANGELOG = "# Changelog\n\n## Unreleased\n\n- Written by a person.\n\n## 1.0.0\n\n- Older.\n"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    extra = """
[releases.profiles]
title = "Tenant profiles"
migrations = ["20250301000000_*"]
backfill_job = "tenant_profiles"

[backfill.jobs.tenant_profiles]
legacy_sql = "select 1"
verify_sql = "select 0 as remaining"
"""
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra)


def run(bot: BotServer, text: str) -> str:
    bot.command(text, user=ONCALL)
    bot.settle()
    return bot.responses()[-1]


def test_notes_contain_the_recorded_facts_and_never_overwrite_other_text(
    bot: BotServer, dbs: Databases, config: RunbookConfig, clock: FakeClock, app_root: Path
) -> None:
    reached = clock.now() - timedelta(days=2)
    finished_rollout(dbs, config, reached)
    bot.command("rollback tenant pilot_a checkout errors", user=ONCALL)
    bot.settle()
    fired = reached - timedelta(days=1)
    with dbs.state() as conn:  # what the alert evaluator records when a rule fires and resolves
        conn.execute(
            "insert into zdm.alert_events (rule, kind, at, value) values ('error_rate', 'firing', %s, 0.015),"
            " ('error_rate', 'resolved', %s, 0.002)",
            (fired, fired + timedelta(minutes=12)),
        )
    (app_root / "CHANGELOG.md").write_text(CHANGELOG, encoding="utf-8")
    rfc = app_root / "docs/rfc-001-repo-refactor.md"
    rfc.parent.mkdir(parents=True, exist_ok=True)
    rfc.write_text("# RFC 001\n\nScope written by a person.\n", encoding="utf-8")

    said = run(bot, "notes profiles")
    assert said.startswith("Drafted the notes of `profiles` in `CHANGELOG.md` and `docs/rfc-001-repo-refactor.md`")
    changelog = (app_root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "### Tenant profiles (`profiles`) — drafted by zdm on" in changelog
    assert (
        f"- Rollout #1 of `tenant.enableNewProfile` (done), started {reached - timedelta(days=3):%Y-%m-%d}" in changelog
    )
    assert f"  - demo tenant: 3 tenant(s) enabled {reached:%Y-%m-%d %H:%M} UTC" in changelog
    assert f"- Rollback of `pilot_a` on {clock.now():%Y-%m-%d %H:%M} UTC by {ONCALL}: checkout errors" in changelog
    assert "- Schema: no schema deploy of this release recorded by zdm" in changelog
    assert f"- Alert `error_rate` firing {fired:%Y-%m-%d %H:%M} UTC at 1.50 %" in changelog
    assert f"- Alert `error_rate` resolved {fired + timedelta(minutes=12):%Y-%m-%d %H:%M} UTC at 0.20 %" in changelog
    # the block sits under "Unreleased", the person's lines stay as they were
    assert changelog.index("<!-- zdm:notes:profiles -->") < changelog.index("- Written by a person.")
    assert changelog.endswith("## 1.0.0\n\n- Older.\n")
    text = rfc.read_text(encoding="utf-8")
    assert text.startswith("# RFC 001\n\nScope written by a person.\n") and "## Deployment notes" in text

    run(bot, "notes profiles")  # idempotent: one block, replaced in place
    again = (app_root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert again.count("<!-- zdm:notes:profiles -->") == 1 and again.count("- Written by a person.") == 1


def test_archive_copies_reports_and_the_audit_export_with_a_manifest_that_verifies(
    bot: BotServer, app_root: Path, demo_app: Path
) -> None:
    (app_root / "coverage").mkdir()
    (app_root / "coverage/coverage-summary.json").write_text('{"total": {"lines": {"pct": 86}}}', encoding="utf-8")
    lighthouse = app_root / "artifacts/lighthouse/2026-11-20"
    lighthouse.mkdir(parents=True)
    shutil.copyfile(demo_app / "lighthouse/menu-baseline.json", lighthouse / "menu.json")
    bot.command("rollback tenant pilot_b slow", user=ONCALL)  # an audited event for the export
    bot.settle()

    said = run(bot, "archive profiles")
    assert said == "Archived 3 file(s) for `profiles` in `artifacts/profiles` with `manifest.json` (sha256)."
    target = app_root / "artifacts/profiles"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {
        "reports/coverage/coverage-summary.json",
        "reports/artifacts/lighthouse/2026-11-20/menu.json",
        "audit.json",
    }
    audit = json.loads((target / "audit.json").read_text(encoding="utf-8"))
    assert any(row["action"].startswith("rollback") for row in audit)
    assert bot.command("archive verify profiles").json()["text"].startswith("The archive of `profiles` verifies")

    (target / "reports/coverage/coverage-summary.json").write_text("{}", encoding="utf-8")
    refused = bot.command("archive verify profiles").json()["text"]
    assert refused == (
        "The archive of `profiles` does not verify: `reports/coverage/coverage-summary.json` does not match its "
        "checksum."
    )
