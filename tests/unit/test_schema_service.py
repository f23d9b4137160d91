"""The schema stage against in-memory ports: plan, request, approvals, cancel, both apply modes and resuming, with
no database (``tests/bot/test_schema_*.py`` drive the same through Slack on real Postgres)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from commands.config import RunbookConfig
from commands.errors import NotAuthorized, StalePrompt, UsageError, UserError
from commands.ports import CommandResult
from commands.schema.model import DeployStatus
from commands.schema.service import SchemaPorts, SchemaService
from tests.fakes import (
    FakeClock,
    MemoryAudit,
    MemoryFailures,
    MemoryNotifier,
    MemoryRoles,
    MemorySchemaDeploys,
    MemorySchemaTarget,
    ScriptedLinter,
)

DBA, LEAD, ONCALL = "U0DBA", "U0LEAD", "U0ONCALL"
PUSH = ("supabase", "db", "push")
FIRST, SECOND = "20261125090000_add_timezone.sql", "20261125090100_add_locale.sql"
ADDITIVE = "alter table public.tenants add column if not exists {} text;\n"


@dataclass
class SupabasePush:
    """The Supabase CLI's ``db push`` as the stage sees it: the files in the folder land in the history, except those
    in ``left_out``; ``timed_out`` stops it before any."""

    target: MemorySchemaTarget
    folder: Path
    left_out: set[str] = field(default_factory=set)
    timed_out: bool = False
    calls: list[list[str]] = field(default_factory=list)

    def run(
        self, argv: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> CommandResult:
        self.calls.append(list(argv))
        if self.timed_out:
            return CommandResult(tuple(argv), None, "Connecting to remote database...", timeout_s, timed_out=True)
        for path in sorted(self.folder.glob("*.sql")):
            if path.name not in self.left_out:
                version, _, name = path.stem.partition("_")
                self.target.history.setdefault(version, name)
        return CommandResult(tuple(argv), 0, "Finished supabase db push.", 1.0)


@dataclass
class Stage:
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)
    deploys: MemorySchemaDeploys = field(default_factory=MemorySchemaDeploys)
    targets: dict[str, MemorySchemaTarget] = field(
        default_factory=lambda: {env: MemorySchemaTarget() for env in ("preview", "prod", "cli")}
    )
    notifier: MemoryNotifier = field(default_factory=MemoryNotifier)
    roles: MemoryRoles = field(
        default_factory=lambda: MemoryRoles({"dba": {DBA}, "platform_lead": {LEAD}, "release_approvers": {ONCALL}})
    )
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    failures: MemoryFailures = field(default_factory=MemoryFailures)
    linter: ScriptedLinter = field(default_factory=ScriptedLinter)

    def __post_init__(self) -> None:
        self.push = SupabasePush(self.targets["cli"], self.folder)

    @property
    def folder(self) -> Path:
        return self.root / "supabase" / "migrations"

    def add(self, name: str, sql: str) -> Path:
        path = self.folder / name
        path.write_text(sql, encoding="utf-8")
        return path

    def service(self) -> SchemaService:
        config = RunbookConfig.model_validate(
            {
                "app": {"root": str(self.root)},
                "schema": {
                    "environments": {
                        "preview": {"approvals": False},
                        "prod": {"approvals": True},
                        "cli": {"approvals": False, "mode": "supabase", "push_argv": list(PUSH)},
                    }
                },
            }
        )
        ports = SchemaPorts(
            clock=self.clock, targets=self.targets, deploys=self.deploys, linter=self.linter, notifier=self.notifier,
            roles=self.roles, audit=self.audit, failures=self.failures, runner=self.push, issues=None,
        )  # fmt: skip
        return SchemaService(config=config, ports=ports)


@pytest.fixture
def stage(tmp_path: Path) -> Stage:
    made = Stage(tmp_path)
    made.folder.mkdir(parents=True)
    made.add(FIRST, ADDITIVE.format("timezone"))
    made.add(SECOND, ADDITIVE.format("locale"))
    return made


def test_without_approvals_a_deploy_is_planned_applied_natively_and_its_release_line_skipped(stage: Stage) -> None:
    said = stage.service().request_deploy("preview", actor=DBA)
    assert said == "Schema deploy #1 to `preview` applied: `20261125090000`, `20261125090100`."
    assert stage.targets["preview"].history == {"20261125090000": "add_timezone", "20261125090100": "add_locale"}
    assert stage.targets["preview"].bootstraps == [[FIRST, SECOND]] and stage.linter.linted == [[FIRST, SECOND]]
    deploy = stage.deploys.get(1)
    assert deploy is not None and deploy.status is DeployStatus.APPLIED and deploy.finished_at == stage.clock.now()
    assert deploy.notes[-1].startswith("release issue not updated")
    assert stage.audit.actions() == ["schema.deploy.request", "schema.deploy.apply"]
    assert len(stage.notifier.posts) == 1 and stage.notifier.updates  # the card, then its progress
    assert stage.service().request_deploy("preview", actor=DBA) == "`preview` is up to date: nothing to deploy."


def test_approvals_bind_to_the_plan_and_a_file_changed_since_voids_them(stage: Stage) -> None:
    schema = stage.service()
    said = schema.request_deploy("prod", actor=ONCALL)
    assert said == "Schema deploy #1 to `prod` awaits one `dba` and one `platform_lead` approval."
    deploy = stage.deploys.get(1)
    assert deploy is not None and stage.targets["prod"].history == {}
    value = f"{deploy.id}:{deploy.plan_hash}"
    assert (
        schema.approve(value=value, actor=DBA) == "Approved as `dba`; schema deploy #1 still needs the other approval."
    )
    with pytest.raises(StalePrompt, match="re-planned"):
        schema.approve(value=f"{deploy.id}:0000", actor=LEAD)
    stage.add(SECOND, ADDITIVE.format("language"))
    with pytest.raises(StalePrompt, match="changed"):
        schema.approve(value=value, actor=LEAD)
    voided = stage.deploys.get(1)
    assert voided is not None and voided.status is DeployStatus.VOID and stage.targets["prod"].history == {}
    assert "schema.deploy.void" in stage.audit.actions()


def test_the_second_approval_applies_the_deploy(stage: Stage) -> None:
    schema = stage.service()
    schema.request_deploy("prod", actor=ONCALL)
    deploy = stage.deploys.get(1)
    assert deploy is not None
    schema.approve(value=f"1:{deploy.plan_hash}", actor=LEAD)
    said = schema.approve(value=f"1:{deploy.plan_hash}", actor=DBA)
    assert said == "Schema deploy #1 to `prod` applied: `20261125090000`, `20261125090100`."
    applied = stage.deploys.get(1)
    assert applied is not None and [a.role for a in applied.approvals] == ["platform_lead", "dba"]


def test_cancel_voids_an_awaiting_deploy_once_and_only_for_requesters(stage: Stage) -> None:
    schema = stage.service()
    schema.request_deploy("prod", actor=ONCALL)
    with pytest.raises(NotAuthorized):
        schema.cancel(value="1:x", actor="U0STRANGER")
    assert schema.cancel(value="1:x", actor=DBA) == "Schema deploy #1 cancelled; nothing was applied."
    with pytest.raises(StalePrompt, match="is void"):
        schema.cancel(value="1:x", actor=DBA)
    with pytest.raises(UserError, match="no schema deploy awaiting approval"):
        schema.cancel(env="prod", actor=DBA)
    with pytest.raises(StalePrompt, match="does not name a schema deploy"):
        schema.cancel(value="x:1", actor=DBA)


def test_a_failing_clean_bootstrap_deploys_nothing_and_says_where(stage: Stage) -> None:
    stage.targets["preview"].failing_bootstrap.add(SECOND)
    said = stage.service().request_deploy("preview", actor=DBA)
    assert said.startswith(f"Nothing was deployed to `preview`: clean bootstrap fails at `{SECOND}`")
    assert stage.deploys.rows == {} and stage.targets["preview"].history == {}
    assert [r["where"] for r in stage.failures.reports] == [f"`{SECOND}` (clean bootstrap in a scratch database)"]


def test_a_file_failing_on_the_database_fails_the_deploy_after_the_files_before_it(stage: Stage) -> None:
    stage.targets["preview"].failing.add(SECOND)
    said = stage.service().request_deploy("preview", actor=DBA)
    assert said == f"Schema deploy #1 failed at `{SECOND}`: syntax error. Nothing of that file was applied."
    failed = stage.deploys.get(1)
    assert failed is not None and failed.status is DeployStatus.FAILED and failed.applied == ("20261125090000",)
    assert stage.failures.reports[0]["what"] == "Schema deploy #1 to `preview`"


def test_supabase_mode_pushes_and_reads_what_landed_in_the_history(stage: Stage) -> None:
    said = stage.service().request_deploy("cli", actor=DBA)
    assert said == "Schema deploy #1 to `cli` applied: `20261125090000`, `20261125090100`."
    assert stage.push.calls == [list(PUSH)]


def test_supabase_mode_fails_a_push_that_leaves_a_file_out_or_times_out(stage: Stage) -> None:
    stage.push.left_out.add(SECOND)
    said = stage.service().request_deploy("cli", actor=DBA)
    assert said.endswith(
        f"failed at `{SECOND}`: not in the migration history after the push. Nothing of that file was applied."
    )
    assert stage.deploys.get(1).applied == ("20261125090000",)
    stage.add("20261125090200_add_currency.sql", ADDITIVE.format("currency"))
    stage.push.timed_out = True
    said = stage.service().request_deploy("cli", actor=DBA)
    assert said.startswith("Schema deploy #2 failed at `supabase db push`: timed out: Connecting")


def test_a_deploy_left_applying_by_a_crash_is_finished_once(stage: Stage) -> None:
    schema = stage.service()
    schema.request_deploy("prod", actor=ONCALL)
    stuck = stage.deploys.get(1)
    assert stuck is not None
    stage.targets["prod"].history["20261125090000"] = "add_timezone"  # applied before the crash
    stage.deploys.save(replace(stuck, status=DeployStatus.APPLYING))
    schema.resume_unfinished()
    schema.resume_unfinished()
    done = stage.deploys.get(1)
    assert done is not None and done.status is DeployStatus.APPLIED
    assert done.applied == ("20261125090000", "20261125090100") and "resumed after a zdm restart" in done.notes
    assert stage.audit.actions().count("schema.deploy.apply") == 1


def test_the_command_checks_the_environment_and_role_before_anything_runs(stage: Stage) -> None:
    schema = stage.service()
    with pytest.raises(UsageError, match=r"`staging` is not a schema environment; zdm\.toml has `preview`, `prod`"):
        schema.command(text="deploy staging", actor=DBA)
    with pytest.raises(NotAuthorized):
        schema.command(text="deploy preview", actor="U0STRANGER")
    said, card, then = schema.command(text="deploy preview", actor=DBA)
    assert said.startswith("Checking `preview`") and card is None and then is not None
    assert stage.deploys.rows == {}  # nothing before the ack
    then()
    assert stage.deploys.get(1) is not None
    said, card, _ = schema.command(text="status #1", actor=DBA)
    assert card is not None and said == card.title
