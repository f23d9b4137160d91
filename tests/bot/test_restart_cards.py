"""Nothing stuck after a restart: every stage's live card comes back (in place, or posted again when Slack no longer
has it), and what waits on a button can be finished with a command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.__main__ import _after_restart
from bot.bootstrap import Container, build_container
from bot.local.emulator import Message, SlackEmulator
from commands.config import RunbookConfig
from commands.rollback.views import CANCEL_ACTION as SKIP_SCHEMA
from commands.schema.views import APPROVE_ACTION
from tests.bot.conftest import card_text
from tests.conftest import ONCALL, BotServer, Databases, make_settings, serving, write_config
from tests.fakes import FakeClock

DBA, LEAD = "U0DBA", "U0LEAD"
ADDITIVE = "alter table public.tenants add column if not exists timezone text;\n"


EXTRA = """[schema]
bootstrap_seed = false

[permissions]
"schema" = ["dba", "platform_lead", "release_approvers"]  # release approvers (ONCALL) may request deploys here
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    roles = f'dba = ["{DBA}"]\nplatform_lead = ["{LEAD}"]'
    return write_config(tmp_path / "zdm.toml", app_root, extra=EXTRA, roles=roles)


@contextmanager
def restarted(
    dbs: Databases, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Container, BotServer]]:
    """A new process with a new local Slack (as `zdm demo` restarted): no message of the first one exists there."""
    slack = SlackEmulator().start()
    container = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    try:
        _after_restart(container)
        with serving(container, slack) as bot:
            yield container, bot
    finally:
        container.close()
        slack.stop()


def titled(slack: SlackEmulator, head: str) -> list[Message]:
    return [m for m in slack.in_channel("#release") if card_text(m).startswith(head)]


def test_a_rollback_awaiting_its_schema_confirmation_gets_its_buttons_back_after_a_restart(
    bot: BotServer, dbs: Databases, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> None:
    bot.command("rollback tenant pilot_a --schema 20250301000000 checkout errors")
    bot.settle()
    assert titled(bot.slack, "*Rollback waiting for schema confirmation: `pilot_a`")
    with restarted(dbs, config, tmp_path, clock) as (_container, bot2):
        [card] = titled(bot2.slack, "*Rollback waiting for schema confirmation: `pilot_a`")  # posted again
        assert bot2.click(card, SKIP_SCHEMA).status_code == 200  # the button on the new message works
        bot2.settle()
        assert "*Rolled back `pilot_a`" in card_text(card)  # updated in place on the new message
        assert bot2.command("rollback tenant pilot_a again").json()["text"].startswith("Rolling back `pilot_a`")


def test_rollback_cancel_finishes_a_rollback_waiting_on_its_button(bot: BotServer) -> None:
    bot.command("rollback tenant pilot_b --schema 20250301000000 bad migration")
    bot.settle()
    refused = bot.command("rollback tenant pilot_b").json()["text"]
    assert refused.startswith("A rollback of `pilot_b` is already in progress (#1)")
    cancel = bot.command("rollback cancel 9²").json()["text"]
    assert cancel.startswith("`9²` is not a rollback number; use `/zdm rollback cancel <id>`")
    assert bot.command("rollback cancel #1").json()["text"] == "Skipping the schema step of rollback #1…"
    bot.settle()
    assert bot.responses()[-1] == "Rollback #1 of `pilot_b` skipped its schema step and is succeeded."
    assert bot.command("rollback tenant pilot_b").json()["text"].startswith("Rolling back `pilot_b` (rollback #")
    bot.settle()
    bot.command("rollback cancel 1")
    bot.settle()
    assert bot.responses()[-1].startswith("This prompt is stale")


def test_a_schema_deploy_awaiting_approval_is_posted_again_after_a_restart_and_can_be_approved(
    bot: BotServer, dbs: Databases, config: RunbookConfig, tmp_path: Path, clock: FakeClock, app_root: Path
) -> None:
    (app_root / "supabase/migrations/20260101000000_tenant_timezone.sql").write_text(ADDITIVE, encoding="utf-8")
    (app_root / "supabase/rollbacks/20260101000000_tenant_timezone_rollback.sql").write_text(
        "alter table public.tenants drop column timezone;\n", encoding="utf-8"
    )
    bot.command("schema deploy preview", user=ONCALL)
    bot.settle()
    assert titled(bot.slack, "*Schema deploy #1 to `preview`: ⏳ awaiting approval*")
    with restarted(dbs, config, tmp_path, clock) as (container, bot2):
        [card] = titled(bot2.slack, "*Schema deploy #1 to `preview`: ⏳ awaiting approval*")
        for user in (DBA, LEAD):
            assert bot2.click(card, APPROVE_ACTION, user=user).status_code == 200
            bot2.settle()
        assert "*Schema deploy #1 to `preview`: ✅ applied*" in card_text(card)
        assert container.services.schema.relink_cards() == 0  # nothing waits any more
