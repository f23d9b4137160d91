"""The local shell: typed commands and button presses are signed requests through the real Bolt app."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.app import build_app
from bot.bootstrap import Container
from bot.executor import TrackingExecutor
from bot.local.emulator import SlackEmulator
from bot.shell import DemoControls, Shell
from commands.config import RunbookConfig
from scheduler.runner import Metronome
from tests.conftest import APPROVER, ONCALL, SECRET, STRANGER, Databases, write_config
from tests.fakes import FakeClock


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, roles=f'dba = ["{APPROVER}"]')


def make_shell(container: Container, slack: SlackEmulator, out: io.StringIO) -> Shell:
    executor = TrackingExecutor()
    return Shell(app=build_app(container, executor=executor), emulator=slack, signing_secret=SECRET,
                 executor=executor, user=ONCALL, out=out, ask=lambda _prompt: "y")  # fmt: skip


def test_shell_rolls_back_with_schema_confirm_and_shows_refusals(
    container: Container, slack: SlackEmulator, dbs: Databases
) -> None:
    out = io.StringIO()
    shell = make_shell(container, slack, out)
    shell.run(
        [
            "/zdm rollback tenant pilot_a --schema 20250301000000 checkout errors",
            "press 1",  # on-call, not a dba: cannot apply a schema rollback
            f"as {APPROVER}",  # a dba: the second person
            "press 1",
            f"as {STRANGER}",
            "/zdm rollback tenant pilot_b",
            "press 99",
            "history",
        ],
        prompt=False,
    )
    text = out.getvalue()
    assert "Rolling back `pilot_a`" in text
    assert "[1] Turn the flag off for all 1 tenants, then apply   [2] Skip schema rollback" in text
    assert "Only members of `dba` or `platform_lead` may apply schema rollbacks" in text
    assert "── #release · updated ──" in text and "*Rolled back `pilot_a`" in text
    assert "Only members of `oncall` may run `/zdm rollback tenant`" in text
    assert "There is no button [99]" in text
    with dbs.target() as conn:
        assert conn.execute("select to_regclass('public.tenant_profiles')").fetchone()[0] is None


def test_shell_walks_a_rollout_with_the_demo_clock_and_a_deny_dialog(
    container: Container, slack: SlackEmulator, dbs: Databases, clock: FakeClock
) -> None:
    out = io.StringIO()
    executor = TrackingExecutor()
    metronome = Metronome(clock=clock, tick_s=3600, jobs=container.services.scheduled_jobs(), time_scale=0)
    shell = Shell(app=build_app(container, executor=executor), emulator=slack, signing_secret=SECRET,
                  executor=executor, user=ONCALL, out=out, ask=None,
                  demo=DemoControls(advance=clock.advance, tick=metronome.tick, now=clock.now))  # fmt: skip
    shell.run(
        [
            "/zdm rollout start",
            "press 1",  # the starter's own approval is refused
            f"as {APPROVER}",
            "press 1",
            "advance 12h",
            "press 4",  # Deny on the pilots' prompt opens a dialog
            "submit pilots report slow checkout",
            "/zdm rollout status",
            "advance soon",
        ],
        prompt=False,
    )
    text = out.getvalue()
    assert "Started rollout #1" in text and "[1] Approve   [2] Deny" in text
    assert "You started rollout #1, so you cannot approve its steps" in text
    assert "✅ Enabled for 1 tenants by <@U0APPROVER>" in text
    assert "clock moved forward 12h" in text and "*Step 2/4 · pilots" in text
    assert "── dialog: Deny rollout #1 ──\nWhy stop this rollout? (answer with `submit <text>`)" in text
    assert "⛔ Denied by <@U0APPROVER>: pilots report slow checkout" in text
    assert "'soon' is not a duration" in text
    with dbs.target() as conn:
        on = {r[0] for r in conn.execute("select tenant_slug from feature_flags where enabled")}
    assert on == {"demo_icupa", "pilot_a", "pilot_b"}
