"""The local shell: typed commands and button presses are signed requests through the real Bolt app."""

from __future__ import annotations

import io

from bot.app import build_app
from bot.bootstrap import Container
from bot.emulator import SlackEmulator
from bot.executor import TrackingExecutor
from bot.shell import Shell
from tests.conftest import ONCALL, SECRET, STRANGER, Databases


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
    assert "[1] Apply 20250301000000_tenant_profiles_rollback.sql   [2] Skip schema rollback" in text
    assert "── #release · updated ──" in text and "*Rolled back `pilot_a`" in text
    assert "Only members of `oncall` may run rollbacks" in text
    assert "There is no button [99]" in text
    with dbs.target() as conn:
        assert conn.execute("select to_regclass('public.tenant_profiles')").fetchone()[0] is None
