"""The checklist stage on in-memory ports: people tick what only people can confirm, each by their role, and an
incomplete checklist is what a schema deploy or a rollout of the release is warned (or refused) about
(``tests/bot/test_checklist.py`` runs the same through Slack, Postgres and squawk)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from commands.checklist.service import ChecklistPorts, ChecklistService
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.schema.history import MigrationFile
from commands.schema.lint import Finding
from tests.bot.test_checklist import FLAG, RELEASE, complete_checkout
from tests.fakes import FakeClock, MemoryAudit, MemoryChecklistTicks, MemoryNotifier, MemoryRoles

DBA, SEC = "U0DBA", "U0SEC"


class CleanLint:
    """A linter with nothing to say (squawk itself runs in the bot and integration tests)."""

    def lint(self, files: Sequence[MigrationFile]) -> list[Finding]:
        return []


@dataclass
class Harness:
    root: Path
    ticks: MemoryChecklistTicks = field(default_factory=MemoryChecklistTicks)
    audit: MemoryAudit = field(default_factory=MemoryAudit)

    def service(self, enforce: str = "warn") -> ChecklistService:
        config = RunbookConfig.model_validate(
            {
                "app": {"root": str(self.root)},
                "releases": {
                    RELEASE: {
                        "migrations": ["20260101000000_*"],
                        "backfill": ["supabase/seed/backfill_timezone*.sql"],
                    }
                },
                "checklist": {"enforce": enforce},
            }
        )
        ports = ChecklistPorts(
            clock=FakeClock(), ticks=self.ticks, linter=CleanLint(), notifier=MemoryNotifier(),
            roles=MemoryRoles({"dba": {DBA}, "security": {SEC}}), audit=self.audit,
        )  # fmt: skip
        return ChecklistService(config=config, ports=ports)


@pytest.fixture
def h(tmp_path: Path, demo_app: Path) -> Harness:
    shutil.copytree(demo_app / "supabase", tmp_path / "supabase")  # the suite's copy of the tracked demo files
    complete_checkout(tmp_path)
    return Harness(tmp_path)


def test_only_the_items_role_ticks_it_and_each_tick_is_kept_with_who_and_when(h: Harness) -> None:
    service = h.service()
    with pytest.raises(UserError, match="Only members of `dba` may confirm"):
        service.tick(release=RELEASE, selected={"dba_review"}, actor=SEC, message=None)
    assert h.ticks.latest(RELEASE) == {}
    said = service.tick(release=RELEASE, selected={"dba_review"}, actor=DBA, message=None)
    assert said.startswith(f"Recorded for `{RELEASE}`: ticked “Schema reviewed with a DBA”, by <@{DBA}> at 2026-")
    service.tick(release=RELEASE, selected={"dba_review", "security_review"}, actor=SEC, message=None)
    assert {item: t.actor for item, t in h.ticks.latest(RELEASE).items() if t.ticked} == {
        "dba_review": DBA,
        "security_review": SEC,
    }
    assert [(e.action, e.outcome) for e in h.audit.events] == [
        ("checklist.tick", "refused"),
        ("checklist.tick", "ok"),
        ("checklist.tick", "ok"),
    ]


def test_an_incomplete_checklist_warns_or_refuses_the_releases_deploys_and_rollouts(h: Harness) -> None:
    gate = h.service().preflight(migrations=["20260101000000_tenant_timezone.sql"])
    assert gate is not None and not gate.refuse and gate.release == RELEASE
    assert gate.blockers[0] == "Schema reviewed with a DBA: not confirmed"
    refused = h.service(enforce="refuse").preflight(flag=FLAG)
    assert refused is not None and refused.refuse
    assert h.service().preflight(migrations=["20250101000000_other.sql"]) is None  # not this release's file
    service = h.service()
    service.tick(release=RELEASE, selected={"dba_review"}, actor=DBA, message=None)
    service.tick(release=RELEASE, selected={"dba_review", "security_review"}, actor=SEC, message=None)
    assert service.preflight(flag=FLAG) is None
