"""Durable first, delivered second: rollback-log entries through signed Slack requests, the state database's outbox,
and the GitHub stand-in's branches, contents and pull requests (issue 15 deliverable 2, issue 14 case 7)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from bot.bootstrap import Container, build_container
from bot.embedded import EmbeddedPostgres, ensure_database
from bot.local.emulator import SlackEmulator
from bot.local.standins import GitHubStandIn, Received
from commands.adapters.github_records import GitHubPullRequestDestination
from commands.adapters.outbox_pg import PgOutbox
from commands.adapters.store_pg import migrate_state
from commands.config import RunbookConfig
from commands.outbox.service import OutboxPorts, OutboxService
from tests.bot.conftest import card_text
from tests.conftest import ONCALL, BotServer, Databases, make_settings, serving, write_config
from tests.fakes import FakeClock

REPO = "acme/icupa"
BRANCH = "zdm/records"
LOG = "docs/runbooks/rollback-log.md"


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=f'\n[delivery]\ngithub_repo = "{REPO}"\n')


@pytest.fixture
def container(
    dbs: Databases,
    slack: SlackEmulator,
    config: RunbookConfig,
    tmp_path: Path,
    clock: FakeClock,
    github: GitHubStandIn,
) -> Iterator[Container]:
    github.add_repo(REPO, branch="main", files={"README.md": "# icupa\n"})
    built = build_container(make_settings(dbs, slack, tmp_path, github=github), config=config, clock=clock)
    yield built
    built.close()


def ask(bot: BotServer, text: str) -> str:
    """The ephemeral answer to ``/zdm <text>`` (given with the ack)."""
    response = bot.command(text, user=ONCALL)
    assert response.status_code == 200
    return str(response.json()["text"])


def test_rollback_while_github_is_down_is_in_the_log_at_once_and_lands_in_the_pull_request_once(
    bot: BotServer, container: Container, github: GitHubStandIn, clock: FakeClock, app_root: Path
) -> None:
    github.unavailable = 503
    bot.command('rollback tenant pilot_a "checkout errors"', user=ONCALL)
    bot.settle()

    [card] = bot.slack.in_channel("#release")
    assert "Rolled back `pilot_a`" in card_text(card)  # GitHub being down does not fail the mitigation
    assert "recorded; delivery pending after 1 attempt(s)" in card_text(card)
    listed = ask(bot, "log")
    assert "rollback of tenant `pilot_a`" in listed and "delivery pending" in listed
    entry_id = listed.split("• `", 1)[1].split("`", 1)[0]
    assert "- **Reason:** checkout errors" in ask(bot, f"log {entry_id}")  # the entry's text is readable
    assert github.commits[REPO] == [] and github.pulls[REPO] == []
    assert not (app_root / LOG).exists()  # with a repository configured nothing is written to the pod's disk

    # still down at the first retry: one more attempt, nothing lost; back up: delivered by the scheduler's job
    clock.advance(timedelta(minutes=1))
    container.services.outbox.deliver_due(clock.now())
    github.unavailable = None
    assert container.services.outbox.deliver_due(clock.now()) is not None  # not due yet: backoff
    assert github.commits[REPO] == []
    clock.advance(timedelta(minutes=5))
    assert container.services.outbox.deliver_due(clock.now()) is None  # delivered, nothing waits any more

    text = github.file(REPO, BRANCH, LOG) or ""
    assert text.count("rollback of tenant `pilot_a`") == 1 and "- **Reason:** checkout errors" in text
    assert [c["path"] for c in github.commits[REPO]] == [LOG]
    [pull] = github.pulls[REPO]
    assert pull["head"]["ref"] == BRANCH and pull["base"]["ref"] == "main" and pull["state"] == "open"
    assert f"recorded; in PR #{pull['number']}" in card_text(bot.slack.in_channel("#release")[0])
    assert f"in PR #{pull['number']}" in ask(bot, "log")

    # a second rollback lands in the same pull request; repeating the job delivers nothing twice
    bot.command("rollback tenant pilot_b", user=ONCALL)
    bot.settle()
    clock.advance(timedelta(hours=2))
    container.services.outbox.deliver_due(clock.now())
    assert len(github.commits[REPO]) == 2 and len(github.pulls[REPO]) == 1
    text = github.file(REPO, BRANCH, LOG) or ""
    assert text.count("rollback of tenant `pilot_a`") == 1 and text.count("rollback of tenant `pilot_b`") == 1


def test_two_deliverers_never_deliver_the_same_entry_twice(
    bot: BotServer, container: Container, github: GitHubStandIn, clock: FakeClock, dbs: Databases
) -> None:
    github.unavailable = 503
    bot.command("rollback tenant pilot_a", user=ONCALL)
    bot.settle()
    github.unavailable = None
    clock.advance(timedelta(hours=2))

    # replica 2: its own connection pool and GitHub client on the same state database
    pool: ConnectionPool[Any] = ConnectionPool(
        dbs.state_url, min_size=1, max_size=2, kwargs={"autocommit": True}, open=True
    )
    other = GitHubPullRequestDestination(
        token=github.token, repo=REPO, branch=BRANCH, base="main", title="zdm records", api_url=github.url
    )
    replica = OutboxService(ports=OutboxPorts(clock=clock, store=PgOutbox(pool), destination=other))
    inside, release = threading.Event(), threading.Event()

    def hold_first_delivery(request: Received) -> None:
        if not inside.is_set():  # replica 1 is mid-delivery (its claim on the row is held) until released
            inside.set()
            assert release.wait(30)

    github.before_reply = hold_first_delivery
    first = threading.Thread(target=container.services.outbox.deliver_due, args=(clock.now(),))
    first.start()
    try:
        assert inside.wait(30)
        replica.deliver_due(clock.now())  # skips the claimed entry instead of delivering it too
        release.set()
        first.join(30)
        assert not first.is_alive()
        replica.deliver_due(clock.now() + timedelta(hours=3))  # and finds it delivered afterwards
    finally:
        release.set()
        github.before_reply = None
        other.close()
        pool.close()

    puts = [r for r in github.requests("PUT") if r.path.endswith(LOG)]
    assert len(puts) == 1 and len(github.commits[REPO]) == 1 and len(github.pulls[REPO]) == 1
    assert (github.file(REPO, BRANCH, LOG) or "").count("rollback of tenant `pilot_a`") == 1


def test_a_fresh_state_database_never_skips_an_entry_of_the_same_log(
    pg: EmbeddedPostgres,
    dbs: Databases,
    slack: SlackEmulator,
    tmp_path: Path,
    app_root: Path,
    clock: FakeClock,
) -> None:
    """Issue 14 case 7: after "delete `.zdm` to start over", rollback #1 of the new database is not "already in"."""
    local = write_config(tmp_path / "zdm.toml", app_root)  # local mode: the file in the checkout
    name = f"fresh_state_{uuid.uuid4().hex[:8]}"
    ensure_database(pg.url("postgres"), name)
    fresh = pg.url(name)
    migrate_state(fresh)
    for state_url, tenant in ((dbs.state_url, "pilot_a"), (fresh, "pilot_b")):
        settings = make_settings(dbs, slack, tmp_path, state_url=state_url)
        built = build_container(settings, config=local, clock=clock)
        try:
            with serving(built, slack) as bot:
                bot.command(f"rollback tenant {tenant}", user=ONCALL)
                bot.settle()
        finally:
            built.close()
    log = (app_root / LOG).read_text(encoding="utf-8")
    assert log.count("rollback of tenant `pilot_a`") == 1 and log.count("rollback of tenant `pilot_b`") == 1
    cards = [card_text(m) for m in slack.in_channel("#release")]
    assert len(cards) == 2 and all(f"recorded; appended to `{LOG}`" in c for c in cards)
    assert all("rollback #1" in c for c in cards)  # both databases numbered their rollback 1
