"""`/zdm checklist <release>` through real Bolt requests: zdm's own checks against a fixture checkout, the
checkboxes ticked by the right people (state in Postgres), and the hook in schema deploys and rollouts."""

from __future__ import annotations

import copy
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.bootstrap import Container
from bot.executor import TrackingExecutor
from bot.local.emulator import Message, SlackEmulator
from bot.shell import Shell
from bot.signing import checkboxes_action_body, sign
from commands.checklist.views import TICK_ACTION
from commands.config import RunbookConfig
from tests.bot.conftest import card_text
from tests.conftest import APPROVER, ONCALL, SECRET, STRANGER, BotServer, Databases, write_config

DBA, LEAD, SEC = "U0DBA", "U0LEAD", "U0SEC"
RELEASE = "profiles"
FLAG = "tenant.enableNewProfile"
ADDITIVE = "alter table public.tenants add column if not exists timezone text;\n"
ROLES = f'dba = ["{DBA}"]\nplatform_lead = ["{LEAD}"]\nsecurity = ["{SEC}"]'


def release_config(enforce: str = "warn") -> str:
    return f"""
[schema]
bootstrap_seed = false

[releases.{RELEASE}]
title = "Tenant timezone"
migrations = ["20260101000000_*"]
backfill = ["supabase/seed/backfill_timezone*.sql"]

[checklist]
enforce = "{enforce}"
"""


def complete_checkout(root: Path) -> None:
    """Everything the runbook's §1 asks the PR to contain."""
    write(root / "supabase/migrations/20260101000000_tenant_timezone.sql", ADDITIVE)
    write(root / "supabase/seed/backfill_timezone.sql", "update public.tenants set timezone = 'UTC';\n")
    write(root / "packages/config/src/flags.ts", f'export const flags = {{\n  "{FLAG}": {{ default: false }},\n}};\n')
    write(root / "docs/rfc-001-repo-refactor.md", "# RFC\n\n## Scope\n\nRelease profiles: migration 20260101000000.\n")
    write(root / "observability/alerts/rollout.yaml", f"- alert: errors\n  expr: error_rate{{flag='{FLAG}'}} > 0.01\n")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=release_config(), roles=ROLES)


def checklist(bot: BotServer, *, user: str = ONCALL) -> Message:
    ack = bot.command(f"checklist {RELEASE}", user=user).json()["text"]
    assert ack.startswith(f"Checking the checkout for release `{RELEASE}`")
    bot.settle()
    return cards(bot.slack)[-1]


def cards(slack: SlackEmulator) -> list[Message]:
    return [m for m in slack.in_channel("#release") if card_text(m).startswith("*Pre-migration checklist")]


def checkbox_block(card: Message) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in card.blocks:
        for element in block.get("elements", []):
            if element.get("type") == "checkboxes":
                return block, element
    raise AssertionError("no checkboxes on the card")


def tick(
    bot: BotServer, card: Message, item: str, *, user: str, on: bool = True, shown: list[dict[str, Any]] | None = None
) -> str:
    """Click one checkbox as Slack reports it: every option checked after the click, with the message as the
    client showed it (``shown``: an older copy of the card's blocks, a stale view)."""
    if shown is not None:
        card = replace(card, blocks=shown)
    block, box = checkbox_block(card)
    checked = {o["value"] for o in box.get("initial_options", [])}
    checked = checked | {item} if on else checked - {item}
    selected = [o for o in box["options"] if o["value"] in checked]
    body = checkboxes_action_body(
        user_id=user,
        action_id=TICK_ACTION,
        block_id=block["block_id"],
        selected=selected,
        channel_id=card.channel,
        message_ts=card.ts,
        response_url=bot.slack.response_url("click"),
        message_blocks=card.blocks,
    )
    assert bot.post(sign(SECRET, body)).status_code == 200
    bot.settle()
    return bot.responses()[-1]


def test_complete_checkout_is_checked_by_zdm_with_evidence(bot: BotServer, app_root: Path) -> None:
    complete_checkout(app_root)
    text = card_text(checklist(bot))
    assert "Tenant timezone" in text
    assert "✅ SQL migration under `supabase/migrations/` — `20260101000000_tenant_timezone.sql`" in text
    assert "✅ Migration is additive (no drops, renames or type changes; squawk) — 1 file(s) additive only" in text
    assert "✅ Backfill script (SQL or TypeScript task) — `supabase/seed/backfill_timezone.sql`" in text
    assert f"✅ Flag `{FLAG}` in the flags file — `packages/config/src/flags.ts:2`" in text
    assert "✅ RFC updated with the migration scope — `docs/rfc-001-repo-refactor.md:5`" in text
    assert "✅ Dashboards / alert thresholds updated — `observability/alerts/rollout.yaml:2`" in text
    assert "❌" not in text
    # only what a person must confirm blocks; no high-volume table is touched, so no load test
    assert "⛔ Schema reviewed with a DBA: not confirmed" in text
    assert "⛔ Security review: RLS impact assessed: not confirmed" in text
    assert "Load test executed on staging (high-volume tables) — not needed" in text
    assert bot.responses()[-1].startswith(f"The checklist of `{RELEASE}` has 2 open item(s)")


def test_incomplete_checkout_fails_each_check_with_what_is_missing(bot: BotServer, app_root: Path) -> None:
    write(
        app_root / "supabase/migrations/20260101000000_tenant_timezone.sql",
        ADDITIVE + "alter table public.tenants drop column contact_email;\n"
        "alter table public.orders add column note text;\n",
    )
    write(app_root / "supabase/migrations/20260101000000_tenant_timezone_rollback.sql", "select 1;\n")  # runbook
    write(app_root / "packages/config/src/flags.ts", "export const flags = {};\n")
    write(app_root / "docs/rfc-001-repo-refactor.md", "# RFC\n\nNothing about this release yet.\n")
    text = card_text(checklist(bot))
    assert "❌ SQL migration under `supabase/migrations/` — `20260101000000_tenant_timezone_rollback.sql`: " in text
    assert "`supabase db push` would apply this rollback forward as migration 20260101000000" in text
    assert "move it to `supabase/rollbacks/` (`zdm schema move-rollbacks` does it)" in text
    assert "❌ Migration is additive (no drops, renames or type changes; squawk) — " in text
    assert "`20260101000000_tenant_timezone.sql:2` zdm/additive-only" in text
    assert "❌ Backfill script (SQL or TypeScript task) — no file matches `supabase/seed/backfill_timezone*" in text
    assert f"❌ Flag `{FLAG}` in the flags file — `packages/config/src/flags.ts` does not mention `{FLAG}`" in text
    assert "❌ RFC updated with the migration scope — `docs/rfc-001-repo-refactor.md` do(es) not mention" in text
    assert "❌ Dashboards / alert thresholds updated — no file matches `observability/**/*`" in text
    # public.orders is a high-volume table: the staging load test is required now
    assert "⛔ Load test executed on staging (high-volume tables): not confirmed" in text
    assert "*Blocks the migration:*" in text and text.count("⛔ ") >= 8


def test_manual_items_are_ticked_only_by_their_role_and_recorded_with_who_and_when(
    bot: BotServer, app_root: Path, dbs: Databases
) -> None:
    complete_checkout(app_root)
    card = checklist(bot)
    refused = tick(bot, card, "dba_review", user=STRANGER)
    assert refused.startswith("Only members of `dba` may confirm “Schema reviewed with a DBA”")
    assert "☐ waiting for `dba`" in card_text(cards(bot.slack)[-1])  # the card is redrawn unticked

    said = tick(bot, card, "dba_review", user=DBA)
    assert said.startswith(f"Recorded for `{RELEASE}`: ticked “Schema reviewed with a DBA”, by <@{DBA}> at 2026-")
    assert tick(bot, cards(bot.slack)[-1], "security_review", user=DBA).startswith("Only members of `security`")
    assert tick(bot, cards(bot.slack)[-1], "security_review", user=SEC).startswith("Recorded")
    final = card_text(cards(bot.slack)[-1])
    assert f"Schema reviewed with a DBA — ☑ by <@{DBA}> at 20" in final
    assert f"Security review: RLS impact assessed — ☑ by <@{SEC}>" in final
    assert ": ✅ complete*" in final and "Blocks the migration" not in final

    with dbs.state() as conn:
        rows = conn.execute("select item, ticked, actor from zdm.checklist_ticks order by id").fetchall()
        refusals = conn.execute(
            "select actor from zdm.audit_log where action = 'checklist.tick' and outcome = 'refused'"
        ).fetchall()
    assert rows == [("dba_review", True, DBA), ("security_review", True, SEC)]
    assert sorted(r[0] for r in refusals) == [DBA, STRANGER]

    # unticking is recorded too, and the item blocks again
    assert tick(bot, cards(bot.slack)[-1], "dba_review", user=DBA, on=False).startswith("Recorded")
    assert "⛔ Schema reviewed with a DBA: not confirmed" in card_text(cards(bot.slack)[-1])


def test_a_click_on_a_stale_card_changes_only_the_option_clicked(
    bot: BotServer, app_root: Path, dbs: Databases
) -> None:
    complete_checkout(app_root)
    card = checklist(bot)
    stale = copy.deepcopy(card.blocks)  # a second client still shows the card before the DBA's tick
    assert tick(bot, card, "dba_review", user=DBA).startswith("Recorded")
    said = tick(bot, cards(bot.slack)[-1], "security_review", user=SEC, shown=stale)
    assert said.startswith(f"Recorded for `{RELEASE}`: ticked “Security review: RLS impact assessed”, by <@{SEC}>")
    assert ": ✅ complete*" in card_text(cards(bot.slack)[-1])
    with dbs.state() as conn:
        rows = conn.execute("select item, ticked, actor from zdm.checklist_ticks order by id").fetchall()
    assert rows == [("dba_review", True, DBA), ("security_review", True, SEC)]


def test_rollout_start_warns_while_the_checklist_is_incomplete(bot: BotServer, app_root: Path) -> None:
    complete_checkout(app_root)
    ack = bot.command("rollout start", user=APPROVER).json()["text"]
    assert ack.startswith("Started rollout #1")
    assert (
        f"Warning: the pre-migration checklist of release `{RELEASE}` is incomplete: "
        "Schema reviewed with a DBA: not confirmed (and 1 more)"
    ) in ack


@pytest.mark.parametrize("enforce", ["refuse"])
def test_refuse_mode_stops_schema_deploys_and_rollouts_of_the_release(
    enforce: str, tmp_path: Path, app_root: Path, dbs: Databases, slack: SlackEmulator
) -> None:
    from bot.bootstrap import build_container
    from tests.conftest import make_settings, serving
    from tests.fakes import FakeClock

    config = write_config(tmp_path / "zdm.toml", app_root, extra=release_config(enforce), roles=ROLES)
    complete_checkout(app_root)
    container = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=FakeClock())
    try:
        with serving(container, slack) as bot:
            bot.command("schema deploy preview", user=DBA)
            bot.settle()
            assert bot.responses()[-1].startswith(
                f"Nothing was deployed to `preview`: the pre-migration checklist of release `{RELEASE}` is incomplete"
            )
            ack = bot.command("rollout start", user=APPROVER).json()["text"]
            assert ack.startswith(f"No rollout was started: the pre-migration checklist of release `{RELEASE}`")
            card = checklist(bot)
            tick(bot, card, "dba_review", user=DBA)
            tick(bot, cards(bot.slack)[-1], "security_review", user=SEC)
            bot.command("schema deploy preview", user=DBA)
            bot.settle()
            assert bot.responses()[-1] == (
                "Schema deploy #1 to `preview` awaits one `dba` and one `platform_lead` approval."
            )
    finally:
        container.close()


def test_the_shell_ticks_and_unticks_a_checkbox(container: Container, slack: SlackEmulator, app_root: Path) -> None:
    complete_checkout(app_root)
    out = io.StringIO()
    executor = TrackingExecutor()
    shell = Shell(app=build_app(container, executor=executor), emulator=slack, signing_secret=SECRET,
                  executor=executor, user=DBA, out=out)  # fmt: skip
    shell.run([f"/zdm checklist {RELEASE}", "tick 1", "tick 2", "tick 1", "tick 9"], prompt=False)
    text = out.getvalue()
    assert "[1] ☐ Schema reviewed with a DBA — needs dba" in text
    assert f"[1] ☑ Schema reviewed with a DBA — by {DBA} at " in text
    assert "Only members of `security` may confirm" in text
    assert f"Recorded for `{RELEASE}`: unticked “Schema reviewed with a DBA”" in text
    assert "There is no button [9]" in text
