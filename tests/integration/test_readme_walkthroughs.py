"""Every demo walkthrough in README.md, run as written through the demo's own machinery, says what the README says.

Each block runs in-process exactly as `zdm demo --script` wires it (the demo clock standing still but for `advance`,
the demo traffic, the real scheduler's tick, the shell's signed requests through the real Bolt app, the local
Slack, GitHub and PagerDuty stand-ins), on fresh databases and its own copy of the demo app and the shipped
zdm.toml; the checks are the block's key lines.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bootstrap import build_container
from bot.cli.demo_shell import DEMO_TICK_S, scheduler, wired_shell
from bot.cli.resume import after_restart
from bot.demo import demo_start_time
from bot.executor import TrackingExecutor
from bot.settings import Settings
from commands.adapters.clock import DemoClock
from commands.config import load_config
from commands.schema.scaffold import new_migration
from tests.conftest import REPO, Databases

SCHEMA_NEW = './dev.sh setup && .venv/bin/zdm schema new "add tenants timezone"'
ADDITIVE = "alter table public.tenants add column timezone text;\n"  # what the README says to write into the file
ADDITIVE_UNDONE = "alter table public.tenants drop column timezone;\n"  # and into its pair

# In README order: each walkthrough block's first line, and lines its output must contain.
EXPECTED: list[tuple[str, tuple[str, ...]]] = [
    (
        "/zdm rollout start",
        (
            "You started rollout #1, so you cannot approve its steps",
            "Enabled `tenant.enableNewProfile` for 1 tenants (step 1, demo tenant).",
            "Enabled `tenant.enableNewProfile` for 3 tenants (step 2, pilots).",  # press 3: never "no data"
            "paused automatically: KPI breach — error rate 5.",
            "*Rollout #1 ▶️ resumed by <@U0APPROVER>*",
            "✅ samples: 1100 in the thinnest window",
        ),
    ),
    (
        "/zdm rollout start",
        (
            "`error_rate` pending at 1.30 %",  # 6 errors of 460 requests: exactly, every time
            "trigger zdm/tenant.enableNewProfile/error_rate [critical]: error rate above 1.00 % for 5 min "
            "(3 tenants with the flag on): error rate 2.00 % (threshold 1.00 %)",
            "*Driven by:* `pilot_a` 5.00 %",
            "*Rollout #1 ⏸ paused by zdm: alert `error_rate` fired: error rate 2.00 %",
            "resolve zdm/tenant.enableNewProfile/error_rate",
            "*Alerts: 0 firing of 1 rules*",
        ),
    ),
    (
        "/zdm backfill start staging order_totals",
        (
            "Backfill #1 paused; its checkpoint is kept.",
            "Backfill #1 resumes from its checkpoint.",
            "*Backfill #1 `order_totals` on `staging`: ✅ done and verified*",
            "Rows done: *113,865* of ~113,865",
            "Backfill #2 of `order_totals` on `production` starts ",
        ),
    ),
    (
        SCHEMA_NEW,
        (
            "*Schema plan for `preview`: ✅ ready to deploy*",
            "Approved as `dba`; schema deploy #1 still needs the other approval.",
            "*Schema deploy #1 to `preview`: ✅ applied*",
            "— approved by U0DBA (dba), U0LEAD (platform_lead); requested by U0DEMO",
        ),
    ),
    (
        "/zdm help",
        (
            "Rolling back `pilot_a` (rollback #1); progress in #release.",
            "*Rolled back `pilot_a` (flag `tenant.enableNewProfile`)*",
            "Apply 20250301000000_tenant_profiles_rollback.sql",
            "Only members of `oncall` may run `/zdm rollback tenant`",
        ),
    ),
    (
        "/zdm checklist tenant-profiles",
        (
            "Recorded for `tenant-profiles`: ticked “Schema reviewed with a DBA”, by <@U0DBA>",
            "*Pre-migration checklist for `tenant-profiles` (Tenant profiles): ✅ complete*",
            "Cleanup of `tenant-profiles` is not allowed yet: 304 of 306 tenants are still on the legacy path",
            "the rollout of `tenant.enableNewProfile` has not been started",
            "The archive of `tenant-profiles` verifies",
        ),
    ),
    (
        "/zdm rollout start",
        (
            "Enabled `tenant.enableNewProfile` for 3 tenants (step 2, pilots).",
            "(step 3, low-volume tenants).",
            "*✅ Rollout #1 finished: `tenant.enableNewProfile` is on for every step's cohort.*",
            "clock moved forward 7d",
            "*Cleanup plan for `tenant-profiles`: ✅ allowed, awaiting approval*",
        ),
    ),
]


def readme_walkthroughs(readme: Path = REPO / "README.md") -> list[list[str]]:
    """The README's demo-shell blocks (plain ``` fences whose first line is a shell line), comments removed."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    plain = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if current is None:
                current, plain = [], line == "```"
            else:
                if plain and current and current[0].startswith(("/zdm ", "./dev.sh setup && ")):
                    blocks.append(current)
                current = None
            continue
        if current is not None:
            text = re.sub(r"\s+#(\s.*)?$", "", line).rstrip()  # "press 1   # Approve …"; keeps "status #3"
            if text.strip() and not text.lstrip().startswith("#"):
                current.append(text)
    return blocks


def run_block(lines: list[str], *, dbs: Databases, app: Path, root: Path) -> str:
    """One walkthrough as `zdm demo --script` runs it; returns what the shell printed."""
    shutil.copytree(app, root / "examples" / "icupa")  # where the shipped zdm.toml's app.root points
    shutil.copyfile(REPO / "zdm.toml", root / "zdm.toml")
    config = load_config(root / "zdm.toml")
    if lines[0] == SCHEMA_NEW:  # the README's step outside the shell: the file, then the SQL written into it
        forward, rollback = new_migration(
            config.migrations_path, "add tenants timezone", now=datetime.now(UTC), rollbacks=config.rollbacks_path
        )
        forward.write_text(ADDITIVE, encoding="utf-8")
        rollback.write_text(ADDITIVE_UNDONE, encoding="utf-8")  # the plan round-trips the pair
        lines = lines[1:]
    settings = Settings(
        state_database_url=dbs.state_url,
        target_database_url=dbs.target_url,
        data_dir=root / "data",
        config_path=root / "zdm.toml",
    )
    clock = DemoClock(scale=0, start=demo_start_time(settings.data_dir))
    container = build_container(settings, clock=clock, config=config)
    metronome, traffic = scheduler(container, clock, scale=0, tick_s=DEMO_TICK_S, traffic=True)
    executor, out = TrackingExecutor(), io.StringIO()
    try:
        assert container.pagerduty is not None  # its pages are part of what a walkthrough shows
        shell = wired_shell(
            container,
            clock=clock,
            metronome=metronome,
            traffic=traffic,
            executor=executor,
            user=settings.shell_user,
            out=out,
            ask=None,
        )
        after_restart(container)
        clock.start()
        shell.run(lines, prompt=False)
    finally:
        executor.wait_idle(60)
        executor.shutdown(wait=True)
        container.close()
    return out.getvalue()


WALKTHROUGHS = readme_walkthroughs()


def test_the_expectations_cover_every_readme_walkthrough() -> None:
    assert [b[0] for b in WALKTHROUGHS] == [first for first, _ in EXPECTED], "a README walkthrough was added or moved"


@pytest.mark.parametrize("n", range(len(EXPECTED)))
def test_a_readme_walkthrough_says_what_the_readme_says(n: int, dbs: Databases, demo_app: Path, tmp_path: Path) -> None:
    out = run_block(WALKTHROUGHS[n], dbs=dbs, app=demo_app, root=tmp_path)
    missing = [line for line in EXPECTED[n][1] if line not in out]
    assert not missing, f"missing {missing} in:\n{out}"
    assert "Traceback" not in out and "internal error" not in out
