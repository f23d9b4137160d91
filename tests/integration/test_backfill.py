"""The backfill engine on real Postgres: exactly once under a concurrent writer and `kill -9`, pause/resume, the
runbook's abort rules, windows and the staging-first rule."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Container
from bot.local.emulator import SlackEmulator
from commands.backfill.engine import BackfillEngine
from commands.backfill.model import BackfillRun, Progress, RunStatus
from commands.backfill.stats import Stats
from commands.backfill.views import progress_card_lines
from commands.config import RunbookConfig
from commands.errors import NotAuthorized, UsageError
from tests.conftest import ONCALL, STRANGER, BotServer, Databases, write_config
from tests.fakes import FakeClock

ROWS = 20_000
JOBS = """
[rollout]
requires_backfill = "items"
requires_backfill_env = "staging"

[backfill]
default_job = "items"

[backfill.engine]
start_batch = 200
min_batch = 50
max_batch = 2000
target_batch_ms = 20
progress_every_s = 0.2
baseline_s = 0.3
settle_s = 0.3
remeasure_s = 0.2
canary_every_ms = 10
max_pause_ms = 160

[backfill.environments.staging]

[backfill.environments.production]
window = "01:00-05:00"
timezone = "Europe/Berlin"
requires_staging = true

[backfill.jobs.items]
table = "public.items"
workers = 2
batch_sql = '''
with batch as (
    select id from public.items where id > %(after)s and id <= %(upto)s order by id limit %(limit)s for update
), done as (
    update public.items i set touched = i.touched + 1, v = i.id * 2 from batch where i.id = batch.id
    returning i.id, i.bad
)
select count(*) filter (where not bad), count(*) filter (where bad), max(id) from done
'''
verify_sql = "select count(*) from public.items where touched = 0"

[backfill.jobs.legacy_slow]
legacy_sql = '''
with u as (update public.items set touched = touched + 1 returning 1) select pg_sleep(1.5), count(*) from u
'''
verify_sql = "select count(*) from public.items where touched = 0"

[backfill.jobs.legacy]
legacy_sql = "update public.items set touched = touched + 1"
verify_sql = "select count(*) from public.items where touched = 0"

[backfill.jobs.hog]
# every batch holds the canary's rows for 20 ms: the live traffic the throttle protects suffers while it runs
table = "public.items"
workers = 2
batch_sql = '''
with locked as (
    select count(*) from (select from zdm_backfill.canary_slots for update) canary
), hold as (
    select pg_sleep(0.02) from locked
), batch as (
    select id from public.items, (select count(*) from hold) h
    where id > %(after)s and id <= least(%(upto)s, 1200) order by id limit %(limit)s
), done as (update public.items i set touched = i.touched + 1 from batch where i.id = batch.id returning i.id)
select count(*), 0, max(id) from done
'''
verify_sql = "select count(*) from public.items where touched = 0 and id <= 1200"

[backfill.jobs.sloppy]
table = "public.items"
workers = 2
batch_sql = '''
with batch as (
    select id from public.items where id > %(after)s and id <= %(upto)s order by id limit %(limit)s
), done as (update public.items i set touched = i.touched + 1 from batch where i.id = batch.id returning i.id)
select count(*), 0, %(upto)s + 1 from done  -- claims a key past its range
'''
verify_sql = "select count(*) from public.items where touched = 0"
"""


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=JOBS, roles=f'dba = ["{ONCALL}"]')


@pytest.fixture
def clock() -> FakeClock:
    """Real time at the start: the `kill -9` test's worker process runs on the system clock."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def items(dbs: Databases) -> None:
    with dbs.target() as conn:
        conn.execute(
            "create table public.items (id bigserial primary key, v bigint, touched integer not null default 0,"
            " bad boolean not null default false, writes integer not null default 0)"
        )
        conn.execute("insert into public.items (bad) select false from generate_series(1, %s)", (ROWS,))


def touched(dbs: Databases) -> dict[int, int]:
    with dbs.target() as conn:
        rows = conn.execute("select touched, count(*) from public.items group by 1").fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


class Writer(threading.Thread):
    """Live traffic: single-row updates on random rows while the backfill runs."""

    def __init__(self, dbs: Databases) -> None:
        super().__init__(daemon=True)
        self.dbs, self.stop, self.writes = dbs, threading.Event(), 0

    def run(self) -> None:
        rng = random.Random(7)
        with self.dbs.target() as conn:
            while not self.stop.is_set():
                conn.execute("update public.items set writes = writes + 1 where id = %s", (rng.randint(1, ROWS),))
                self.writes += 1


def test_every_row_exactly_once_with_a_concurrent_writer(container: Container, dbs: Databases, items: None) -> None:
    backfills = container.services.backfills
    writer = Writer(dbs)
    writer.start()
    try:
        run = backfills.start(env="staging", job=None, actor=ONCALL)
        done = backfills.execute(run.id)
    finally:
        writer.stop.set()
        writer.join()
    assert done is not None and done.status == RunStatus.VERIFIED and done.total == ROWS
    assert touched(dbs) == {1: ROWS} and writer.writes > 0
    with dbs.target() as conn:
        assert conn.execute("select count(*) from public.items where v <> id * 2").fetchone()[0] == 0
        lost = conn.execute("select sum(writes) from public.items").fetchone()[0]
    assert lost == writer.writes  # the writer's updates were never overwritten


def test_kill_9_at_random_moments_then_resume_misses_and_repeats_nothing(
    container: Container, dbs: Databases, items: None, slack: SlackEmulator, tmp_path: Path
) -> None:
    run = container.services.backfills.start(env="staging", job=None, actor=ONCALL)
    env = {
        **os.environ,
        "ZDM_STATE_DATABASE_URL": dbs.state_url,
        "ZDM_TARGET_DATABASE_URL": dbs.target_url,
        "ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml"),
        "ZDM_SLACK_BOT_TOKEN": slack.token,
        "ZDM_SLACK_SIGNING_SECRET": "x",
        "ZDM_SLACK_API_URL": slack.api_url,
        "ZDM_DATA_DIR": str(tmp_path / "data"),
        "ZDM_LOCK_LEASE_S": "2",  # a killed worker's lock runs out in 2 s; the next worker waits for that
    }
    argv = [sys.executable, "-m", "bot", "backfill-worker", str(run.id)]
    checkpoints = container.services.backfills._p.checkpoints["staging"]
    rng = random.Random(11)
    kills = 0
    for _ in range(3):
        target = checkpoints.progress(run.id).done + rng.randint(1_000, 4_000)
        worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while worker.poll() is None and checkpoints.progress(run.id).done < target:
            threading.Event().wait(0.02)  # polling the checkpoint table, not waiting for a time to pass
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            kills += 1
        worker.wait(30)
    finish = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert "verified" in finish.stdout, finish.stdout + finish.stderr
    assert kills >= 2
    assert touched(dbs) == {1: ROWS}  # 0 rows missed, 0 done twice


def test_error_rate_and_runtime_rules_pause_with_the_checkpoint(
    container: Container, dbs: Databases, items: None, clock: FakeClock, slack: SlackEmulator
) -> None:
    backfills = container.services.backfills
    with dbs.target() as conn:
        conn.execute("update public.items set bad = true where id % 50 = 0")  # 2 % of rows fail
    run = backfills.start(env="staging", job=None, actor=ONCALL)
    paused = backfills.execute(run.id)
    assert paused is not None and paused.status == RunStatus.PAUSED
    assert paused.reason and paused.reason.startswith("error rate ") and "% is over 0.5 %" in paused.reason
    assert any("Investigate before retrying" in m.text for m in slack.in_channel("#release"))
    progress = backfills._p.checkpoints["staging"].progress(run.id)
    assert 0 < progress.done < ROWS

    with dbs.target() as conn:
        conn.execute("update public.items set bad = false")  # the cause is fixed
    said, _, _ = backfills.command(text="resume", actor=ONCALL)
    assert said == f"Backfill #{run.id} resumes from its checkpoint."  # judged on what happens from here on
    clock.advance(timedelta(minutes=31))  # the runbook's 30-minute limit
    stopped = backfills.execute(run.id)
    assert stopped is not None and stopped.status == RunStatus.PAUSED
    assert stopped.reason and stopped.reason.startswith("runtime 31 min") and "over 30 min" in stopped.reason


def test_pause_set_batch_size_resume_and_cancel_from_slack(container: Container, dbs: Databases, items: None) -> None:
    backfills = container.services.backfills
    run = backfills.start(env="staging", job=None, actor=ONCALL)
    with pytest.raises(NotAuthorized, match="`oncall` or `dba` or `platform_lead` may pause backfills"):
        backfills.command(text="pause", actor=STRANGER)
    said, _, _ = backfills.command(text="pause", actor=ONCALL)
    assert said == f"Backfill #{run.id} paused; its checkpoint is kept."
    assert backfills.execute(run.id).status == RunStatus.PAUSED  # a paused run does nothing
    said, _, _ = backfills.command(text="set batch-size 10", actor=ONCALL)
    assert said == f"Backfill #{run.id} uses batches of 50 rows from its next batch on (kept within 50–2,000)."
    backfills.command(text="resume", actor=ONCALL)
    checkpoints = backfills._p.checkpoints["staging"]

    # cancel from another thread once a few fixed-size batches have gone through
    def cancel_soon() -> None:
        while checkpoints.progress(run.id).batches < 20:
            threading.Event().wait(0.01)
        backfills.command(text="cancel", actor=ONCALL)

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    done = backfills.execute(run.id)
    canceller.join()
    assert done is not None and done.status == RunStatus.CANCELLED
    progress = checkpoints.progress(run.id)
    assert progress.done == 50 * progress.batches  # every batch was exactly the size set from Slack
    assert touched(dbs).get(2, 0) == 0  # nothing twice
    with pytest.raises(UsageError, match="is cancelled; it cannot be cancelled now"):
        backfills.command(text="cancel", actor=ONCALL)


def test_production_waits_for_staging_and_runs_only_inside_its_window(
    container: Container, dbs: Databases, items: None, clock: FakeClock
) -> None:
    backfills = container.services.backfills
    with pytest.raises(UsageError, match="has not finished on staging yet"):
        backfills.start(env="production", job=None, actor=ONCALL)
    staging = backfills.start(env="staging", job=None, actor=ONCALL)
    staged = backfills.execute(staging.id)
    assert staged is not None and staged.status == RunStatus.VERIFIED, staged

    clock.advance(_until(clock.now(), hour=0, minute=30))  # 00:30 Berlin: before the window
    run = backfills.start(env="production", job=None, actor=ONCALL)
    assert run.status == RunStatus.PAUSED and run.reason and run.reason.startswith("outside the low-traffic window")
    backfills.tend(clock.now())
    assert backfills._p.runs.get(run.id).status == RunStatus.PAUSED
    clock.advance(timedelta(minutes=30))  # 01:00: the window opens, the scheduler starts it
    backfills.tend(clock.now())
    backfills.wait()
    final = backfills._p.runs.get(run.id)
    assert final is not None and final.status == RunStatus.VERIFIED, final


def _until(now: datetime, *, hour: int, minute: int) -> timedelta:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("Europe/Berlin"))
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    return target.astimezone(UTC) - now


def test_from_slack_one_progress_card_updated_in_place_until_verified(
    bot: BotServer, container: Container, dbs: Databases, items: None
) -> None:
    ack = bot.command("backfill start staging").json()["text"]
    assert ack == "Backfill #1 of `items` on `staging` starts now."
    bot.settle()
    container.services.backfills.wait()
    [card] = bot.slack.in_channel("#release")
    text = card.blocks[0]["text"]["text"] + card.blocks[1]["text"]["text"]
    assert "Backfill #1 `items` on `staging`: ✅ done and verified" in text
    assert f"Rows done: *{ROWS:,}* of ~{ROWS:,}" in text and card.updates >= 1
    status = bot.command("backfill status").json()
    assert status["text"].endswith("✅ done and verified") and "Ranges finished: 2/2" in str(status["blocks"])
    assert (
        bot.command("backfill start staging", user=STRANGER)
        .json()["text"]
        .startswith("Only members of `dba` or `platform_lead` may run `/zdm backfill start`")
    )
    assert touched(dbs) == {1: ROWS}


def test_the_window_closing_pauses_a_run_until_the_next_opening(
    container: Container, dbs: Databases, items: None, clock: FakeClock
) -> None:
    backfills = container.services.backfills
    backfills.execute(backfills.start(env="staging", job=None, actor=ONCALL).id)
    clock.advance(_until(clock.now(), hour=4, minute=59))
    run = backfills.start(env="production", job=None, actor=ONCALL)
    assert run.status == RunStatus.RUNNING
    clock.advance(timedelta(minutes=1))  # 05:00 Berlin: the window closes before the run was picked up
    backfills.tend(clock.now())
    closed = backfills._p.runs.get(run.id)
    assert closed is not None and closed.status == RunStatus.PAUSED
    assert closed.reason and closed.reason.startswith("outside the low-traffic window; resumes at ")
    assert backfills.execute(run.id).status == RunStatus.PAUSED  # nothing runs while it is closed


def test_a_batch_statement_that_breaks_the_keyset_contract_pauses_and_changes_nothing(
    container: Container, dbs: Databases, items: None
) -> None:
    backfills = container.services.backfills
    run = backfills.start(env="staging", job="sloppy", actor=ONCALL)
    done = backfills.execute(run.id)
    assert done is not None and done.status == RunStatus.PAUSED
    assert done.reason and done.reason.startswith("a batch failed with BatchOutOfRange (ref ")
    assert "batch_sql" not in done.reason  # details are in the log, not in Slack
    assert touched(dbs) == {0: ROWS}  # the batch that claimed the other worker's range was rolled back


def test_legacy_mode_runs_one_statement_that_a_pause_cancels_and_rolls_back(
    container: Container, dbs: Databases, items: None
) -> None:
    backfills = container.services.backfills
    run = backfills.start(env="staging", job="legacy_slow", actor=ONCALL)

    def pause_once_running() -> None:
        with dbs.target() as conn:  # the statement is in the database: pg_sleep shows it
            while not conn.execute("select count(*) from pg_stat_activity where query like '%%pg_sleep(1.5)%%'"
                                   " and pid <> pg_backend_pid()").fetchone()[0]:  # fmt: skip
                threading.Event().wait(0.01)
        backfills.command(text="pause", actor=ONCALL)

    pauser = threading.Thread(target=pause_once_running)
    pauser.start()
    stopped = backfills.execute(run.id)
    pauser.join()
    assert stopped is not None and stopped.status == RunStatus.PAUSED
    assert touched(dbs) == {0: ROWS}  # cancelled: the whole statement rolled back
    backfills.command(text="resume", actor=ONCALL)
    whole = backfills.execute(run.id)
    assert whole is not None and whole.status == RunStatus.VERIFIED and touched(dbs) == {1: ROWS}


def test_names_from_slack_never_reach_sql(container: Container, dbs: Databases, items: None) -> None:
    backfills = container.services.backfills
    with pytest.raises(UsageError, match=r"There is no environment `staging; drop table public\.items`"):
        backfills.command(text='start "staging; drop table public.items"', actor=ONCALL)
    with pytest.raises(UsageError, match=r"Name a backfill job from zdm\.toml"):
        backfills.command(text='start staging "items; --"', actor=ONCALL)
    assert touched(dbs) == {0: ROWS}


def test_a_rollout_can_require_the_backfill_to_be_verified_first(
    container: Container, dbs: Databases, items: None
) -> None:
    rollouts, backfills = container.services.rollouts, container.services.backfills
    with pytest.raises(UsageError, match="The `items` backfill has not been verified on `staging` yet"):
        rollouts.start(flag=None, plan=None, actor=ONCALL, correlation_id=None)
    backfills.execute(backfills.start(env="staging", job=None, actor=ONCALL).id)
    assert rollouts.start(flag=None, plan=None, actor=ONCALL, correlation_id=None).id == 1


def test_a_legacy_run_s_status_says_what_its_card_says(
    bot: BotServer, container: Container, dbs: Databases, items: None
) -> None:
    bot.command("backfill start staging legacy")
    bot.settle()
    container.services.backfills.wait()
    [card] = bot.slack.in_channel("#release")
    status = bot.command("backfill status #1").json()
    shown = [b["text"]["text"] for b in card.blocks if b.get("text")]
    answered = [b["text"]["text"] for b in status["blocks"] if b.get("text")]
    figures = f"Rows done: *{ROWS:,}* of ~{ROWS:,} · failed: 0 (error rate 0.00 %) · batches: 1"
    assert figures in shown[1] and figures in answered[1]
    assert "Ranges finished: 1/1" in answered[1] and touched(dbs) == {1: ROWS}


def test_after_a_restart_a_paused_run_s_card_is_posted_again_once(
    container: Container, dbs: Databases, items: None, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> None:
    from bot.bootstrap import build_container
    from bot.cli.resume import after_restart
    from tests.conftest import make_settings

    backfills = container.services.backfills
    run = backfills.start(env="staging", job=None, actor=ONCALL)
    backfills.command(text="pause", actor=ONCALL)
    backfills.announce(run)  # its card, and nothing to execute: it is paused
    slack = SlackEmulator().start()  # a new local Slack: the first card is gone
    restarted = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    try:
        after_restart(restarted)
        [card] = slack.in_channel("#release")
        assert card.blocks[0]["text"]["text"] == f"*Backfill #{run.id} `items` on `staging`: ⏸ paused*"
        restarted.services.backfills.relink_cards()  # the new card is updated in place, not posted again
        assert len(slack.in_channel("#release")) == 1 and card.updates == 1
    finally:
        restarted.close()
        slack.stop()


def _engine(container: Container, job: str, seen: list[str]) -> BackfillEngine:
    backfills, services = container.services.backfills, container.services

    def report(run: BackfillRun, progress: Progress, stats: Stats) -> None:
        seen.extend(line for line in progress_card_lines(run, progress, stats, run.created_at) if "Throttle" in line)

    return BackfillEngine(
        job=services.config.backfill.jobs[job],
        cfg=services.config.backfill.engine,
        checkpoints=backfills._p.checkpoints["staging"],
        runs=backfills._p.runs,
        clock=services.clock,
        report=report,
        outage=backfills._p.outage,
    )


def test_the_throttle_slows_down_when_the_canary_suffers_and_the_card_says_why(
    container: Container, dbs: Databases, items: None
) -> None:
    run = container.services.backfills.start(env="staging", job="hog", actor=ONCALL)
    seen: list[str] = []
    engine = _engine(container, "hog", seen)
    done = engine.run(run.id)
    assert done.status == RunStatus.VERIFIED, done
    assert touched(dbs) == {1: 1200, 0: ROWS - 1200}
    assert seen and all(line.startswith("Throttle: ") for line in seen)  # the card carries the throttle's line
    assert engine.stats is not None
    history = list(engine.stats.throttle_history)
    slowed = [change for change in history if change.startswith("slowed: canary p95 ")]
    assert slowed, history  # every change the controller made, in order, as the card showed them
    assert "× baseline (budget 1.3×) · 1 worker, pause " in slowed[0]


def test_max_speed_skips_the_throttle_and_only_starters_may_ask_for_it(
    container: Container, dbs: Databases, items: None
) -> None:
    backfills = container.services.backfills
    with pytest.raises(NotAuthorized):
        backfills.command(text="start staging items --max-speed", actor=STRANGER)
    said, _, _ = backfills.command(text="start staging items --max-speed", actor=ONCALL)
    run = backfills._p.runs.latest()
    assert run is not None and run.max_speed and said.startswith(f"Backfill #{run.id} of `items`")
    seen: list[str] = []
    done = _engine(container, "items", seen).run(run.id)
    assert done.status == RunStatus.VERIFIED and touched(dbs) == {1: ROWS}
    assert seen and set(seen) == {"Throttle: off (--max-speed): every worker flat out"}
