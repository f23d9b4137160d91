"""Postgres is the source of truth: two replicas racing, or a restart mid-plan, never skip, repeat or double-post a
step."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.config import RunbookConfig
from commands.rollout.views import APPROVE_ACTION
from tests.bot.conftest import Cadence, approve, enabled, prompt_for, step_prompts
from tests.conftest import APPROVER, APPROVER2, BotServer, Databases, make_settings, serving
from tests.fakes import FakeClock

H = timedelta(hours=1)


@contextmanager
def replica(
    dbs: Databases, slack: SlackEmulator, tmp_path: Path, config: RunbookConfig, clock: FakeClock
) -> Iterator[Container]:
    """A second bot process: its own pools, locks and services on the same state and target databases."""
    other = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    try:
        yield other
    finally:
        other.close()


def together(*calls: Callable[[], object]) -> None:
    """Run the calls in threads released at the same instant."""
    gate = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        gate.wait()
        try:
            call()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_two_replicas_advancing_at_once_post_one_prompt(
    bot: BotServer,
    cadence: Cadence,
    container: Container,
    dbs: Databases,
    slack: SlackEmulator,
    tmp_path: Path,
    config: RunbookConfig,
    clock: FakeClock,
) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)
    clock.advance(12 * H)
    cadence.traffic(clock.now())
    with replica(dbs, slack, tmp_path, config, clock) as other:
        for _ in range(3):  # several rounds, both replicas each time
            together(container.services.rollouts.advance_due, other.services.rollouts.advance_due)
    assert len(step_prompts(slack, 2)) == 1


def test_two_approvers_at_once_on_two_replicas_flip_once(
    bot: BotServer, dbs: Databases, slack: SlackEmulator, tmp_path: Path, config: RunbookConfig, clock: FakeClock
) -> None:
    bot.command("rollout start")
    bot.settle()
    step1 = prompt_for(slack, 1)
    with replica(dbs, slack, tmp_path, config, clock) as other, serving(other, slack) as bot2:
        together(
            lambda: bot.click(step1, APPROVE_ACTION, user=APPROVER),
            lambda: bot2.click(step1, APPROVE_ACTION, user=APPROVER2),
        )
        bot.settle()
        bot2.settle()
    with dbs.state() as conn:
        flips = conn.execute("select count(*) from zdm.audit_log where action = 'rollout.flag_on'").fetchone()[0]
    assert flips == 1 and "demo_icupa" in enabled(dbs)
    assert config.rollback_log_path.read_text().count("rollout #1 step 1") == 1
    replies = bot.responses()
    assert sum("Enabled `tenant.enableNewProfile` for 1 tenants" in r for r in replies) == 1
    assert sum("This prompt is stale" in r for r in replies) == 1


def test_a_restart_mid_plan_relinks_the_prompt_and_continues(
    bot: BotServer,
    cadence: Cadence,
    container: Container,
    dbs: Databases,
    slack: SlackEmulator,
    tmp_path: Path,
    config: RunbookConfig,
    clock: FakeClock,
) -> None:
    bot.command("rollout start")
    bot.settle()
    approve(bot, 1, APPROVER)
    cadence.at(12 * H)
    step2 = prompt_for(slack, 2)
    cadence.metronome.shutdown()  # the first process goes away mid-plan
    updates_before = step2.updates

    with replica(dbs, slack, tmp_path, config, clock) as restarted, serving(restarted, slack) as bot2:
        assert restarted.services.rollouts.relink_prompts() == 1
        assert step2.updates == updates_before + 1  # refreshed in place, not posted again
        assert len(step_prompts(slack, 2)) == 1
        approve(bot2, 2, APPROVER)  # the button posted before the restart still works
        assert "pilot_c" in enabled(dbs)
        for hours in (24, 36, 37):
            clock.advance(hours * H - (clock.now() - cadence.start))
            cadence.traffic(clock.now())
            restarted.services.rollouts.advance_due()
        assert [len(step_prompts(slack, n)) for n in (1, 2, 3, 4)] == [1, 1, 1, 0]
