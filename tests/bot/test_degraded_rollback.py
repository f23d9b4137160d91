"""Issue 18, deliverable 7: `/zdm rollback tenant <slug>` while the state database is cut (at the network edge, by
the outage proxy) still turns the flag off, restores the legacy views and runs the smoke tests; it is journaled
locally and written to the state database — rollback row, audit rows, rollback-log entry — exactly once when the
database is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Container, build_container
from bot.local.emulator import SlackEmulator
from commands.adapters.pg_errors import connection_lost
from commands.config import RunbookConfig
from tests.conftest import GROUP_MEMBER, ONCALL, BotServer, Databases, make_settings
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import FakeClock

FLAG = "tenant.enableNewProfile"
ALREADY = "This rollback request already ran in degraded mode (or is running); its outcome is sent to you."
STEPS = ["requested", "flag_off", "restore_views", "smoke_tests", "rollback_log", "finished"]


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock, proxy: PgOutageProxy
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path, state_url=proxy.url), config=config, clock=clock)
    yield built
    built.close()


def flag_enabled(dbs: Databases, tenant: str) -> bool:
    with dbs.target() as conn:
        row = conn.execute(
            "select enabled from public.feature_flags where tenant_slug = %s and flag = %s", (tenant, FLAG)
        ).fetchone()
    return bool(row and row[0])


def views_restored(dbs: Databases) -> int:
    with dbs.target() as conn:
        row = conn.execute(
            "select count(*) from public.tenant_migration_audit where event = 'legacy_views_restored'"
        ).fetchone()
    return int(row[0]) if row else 0


def recorded(dbs: Databases) -> tuple[list[tuple[object, ...]], list[str]]:
    with dbs.state() as conn:
        rows = conn.execute("select id, tenant, requested_by, finished_at from zdm.rollbacks").fetchall()
        audit = conn.execute(
            "select action from zdm.audit_log where action like 'rollback.%%' and detail->>'degraded' = 'true'"
            " and action <> 'rollback.refused' order by id"
        ).fetchall()
    return rows, [str(a[0]).removeprefix("rollback.") for a in audit]


def text_of(bot: BotServer, command: str, **kwargs: object) -> str:
    answer = bot.command(command, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 200
    return str(answer.json()["text"])


def when_back(container: Container, job_name: str) -> object:
    """Run a scheduled job until the restored database answers (the pools reconnect with a short backoff)."""
    job = container.services.scheduled_jobs()[job_name]
    deadline = time.monotonic() + 60
    while True:
        try:
            return job(container.services.clock.now())
        except Exception as exc:
            if not connection_lost(exc) or time.monotonic() > deadline:
                raise


def test_rollback_during_a_state_outage_runs_now_and_is_recorded_once_when_the_database_is_back(
    bot: BotServer, container: Container, dbs: Databases, config: RunbookConfig, proxy: PgOutageProxy
) -> None:
    assert flag_enabled(dbs, "pilot_a") and flag_enabled(dbs, "pilot_b")
    proxy.cut()

    ack = text_of(bot, 'rollback tenant pilot_a "checkout errors"', trigger_id="T-DEGRADED-1")
    assert ack.startswith("The state database is down: rolling back `pilot_a` in degraded mode")
    retry = text_of(bot, 'rollback tenant pilot_a "checkout errors"', trigger_id="T-DEGRADED-1", retry_num=1)
    assert retry == ALREADY
    bot.settle()
    assert not flag_enabled(dbs, "pilot_a")  # at once, without the state database
    assert views_restored(dbs) == 1  # once: the retry ran nothing
    [reply] = [r for r in bot.responses() if "degraded mode" in r]
    assert reply.startswith("Rolled back `pilot_a` in degraded mode (the state database is down): flag off: ok,")
    assert "smoke tests: ok" in reply

    # a user-group member of `oncall` cannot be verified without the state database; `--schema` needs a second person
    refused = text_of(bot, "rollback tenant pilot_b", user=GROUP_MEMBER, trigger_id="T-DEGRADED-2")
    assert refused.startswith("The state database is down, so zdm can only confirm `oncall` members listed by user id")
    schema = text_of(bot, "rollback tenant pilot_b --schema 20250301000000", trigger_id="T-DEGRADED-3")
    assert schema.startswith("The state database is down, so `--schema`")
    bot.settle()
    assert flag_enabled(dbs, "pilot_b") and views_restored(dbs) == 1

    proxy.restore()
    assert when_back(container, "replay_degraded_rollbacks") == 1
    when_back(container, "deliver_outbox")
    rows, steps = recorded(dbs)
    [(_, tenant, requested_by, finished_at)] = rows
    assert (tenant, requested_by) == ("pilot_a", ONCALL) and finished_at is not None
    assert steps == STEPS  # one audit row per step
    with dbs.state() as conn:  # zdm's exposure record knows the flag is off for the tenant
        assert conn.execute("select enabled from zdm.flag_exposure where tenant = 'pilot_a'").fetchone() == (False,)
    log_text = config.rollback_log_path.read_text()
    assert log_text.count("rollback of tenant `pilot_a`") == 1 and "- **Smoke tests:** passed" in log_text

    with dbs.state() as conn:  # the refusal during the outage is audited once the database is back
        refusals = conn.execute(
            "select actor, subject, outcome from zdm.audit_log where action = 'rollback.refused'"
        ).fetchall()
    assert refusals == [(GROUP_MEMBER, "pilot_b", "refused")]

    # a Slack retry arriving after the outage goes through the request ledger, and the journal still knows it
    late = text_of(bot, 'rollback tenant pilot_a "checkout errors"', trigger_id="T-DEGRADED-1", retry_num=2)
    assert late == ALREADY

    # a crash mid-replay (before the journal said "replayed"): the next replay finds the uid and writes nothing
    journal = container.settings.data_dir / "rollback-journal.jsonl"
    lines = journal.read_text().splitlines()
    kept = [line for line in lines if '"kind": "replayed"' not in line]
    assert len(lines) - len(kept) == 2  # the rollback and the refusal
    journal.write_text("\n".join(kept) + "\n")
    assert when_back(container, "replay_degraded_rollbacks") == 0
    when_back(container, "deliver_outbox")
    assert recorded(dbs) == (rows, steps)
    assert config.rollback_log_path.read_text().count("rollback of tenant `pilot_a`") == 1
    with dbs.state() as conn:
        assert conn.execute("select count(*) from zdm.audit_log where action = 'rollback.refused'").fetchone() == (1,)
