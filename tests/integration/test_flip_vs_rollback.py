"""A rollback that lands at any instant of a flip wins, on real Postgres: a 10 000-tenant flip on the postgres flag
backend and a slow tenant-by-tenant flip on the `command` backend. The rolled-back tenant is off at the end of every
trial, and the flip names it as skipped when it had not reached it yet."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from bot.bootstrap import Container
from commands.config import RunbookConfig
from commands.rollout.model import Rollout
from tests.conftest import APPROVER, ONCALL, Databases, write_config

FLAG = "tenant.enableNewProfile"
LOAD_TENANTS = 10_000

PG_PLAN = """
[rollout]
default_plan = "load"
gates = { no_data = "pass" }

[[rollout.plans.load]]
name = "load tenants"
at = "0h"
glob = "load_*"
"""

SLOW_CLI = """
import subprocess, sys, time
time.sleep(0.02)  # a real flag CLI takes a while per tenant
sys.exit(subprocess.call([sys.executable, "scripts/flags.py", *sys.argv[1:]]))
"""

CLI_PLAN = """
[flag]
backend = "command"
enable_argv = ["{python}", "scripts/slow_flags.py", "enable", "{flag}", "--tenant={tenant}", "--actor={actor}"]
disable_argv = ["{python}", "scripts/slow_flags.py", "disable", "{flag}", "--tenant={tenant}", "--actor={actor}"]

[rollout]
default_plan = "slow"
gates = { no_data = "pass" }

[[rollout.plans.slow]]
name = "a handful"
at = "0h"
glob = "ga_00*"
"""


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path, app_root: Path) -> RunbookConfig:
    (app_root / "scripts" / "slow_flags.py").write_text(SLOW_CLI, encoding="utf-8")
    return write_config(tmp_path / "zdm.toml", app_root, extra=request.param)


def enabled(dbs: Databases) -> set[str]:
    with dbs.target() as conn:
        rows = conn.execute("select tenant_slug from public.feature_flags where flag = %s and enabled", (FLAG,))
        return {r[0] for r in rows}


def prompted(container: Container) -> Rollout:
    services = container.services
    started = services.rollouts.start(flag=None, plan=None, actor=ONCALL, correlation_id=None)
    services.rollouts.advance_due()
    rollout = container.services.rollout_repo.get(started.id)
    assert rollout is not None and rollout.step is not None and rollout.step.cohort
    return rollout


def trial(container: Container, dbs: Databases, *, victim: str, after: int) -> None:
    """Approve the flip in one thread; roll ``victim`` back once ``after`` tenants are on (or the flip ended)."""
    services = container.services
    rollout = prompted(container)
    token = f"{rollout.id}:{rollout.current}:{rollout.digest}"
    flipper = threading.Thread(target=lambda: services.rollouts.approve(value=token, actor=APPROVER))
    flipper.start()
    while flipper.is_alive() and len(enabled(dbs)) < after:
        pass  # the random instant: somewhere in the flip
    rollback = services.rollbacks.start(text=f"tenant {victim} errors", actor=ONCALL)
    services.rollbacks.run(rollback.id, wait_s=30)
    flipper.join(timeout=120)
    assert not flipper.is_alive()

    assert victim not in enabled(dbs), f"{victim} was rolled back but is on (rolled back after {after} tenants)"
    done = container.services.rollout_repo.get(rollout.id)
    assert done is not None
    state = done.steps[0]
    assert victim in state.enabled or victim in {t for t, _ in state.skipped}  # flipped before, or skipped and said
    assert victim not in container.services.rollouts.status_card(done).title  # (the card renders)
    with dbs.state() as conn:
        flagged = conn.execute(
            "select enabled from zdm.flag_exposure where flag = %s and tenant = %s", (FLAG, victim)
        ).fetchone()
    assert flagged == (False,)  # zdm's own record agrees


def reset(dbs: Databases) -> None:
    """A fresh start for the next trial: nobody has the flag on (the tenants held out so far stay held out)."""
    with dbs.target() as conn:
        conn.execute("delete from public.feature_flags where flag = %s", (FLAG,))
    with dbs.state() as conn:
        conn.execute("delete from zdm.flag_exposure where flag = %s", (FLAG,))


@pytest.mark.parametrize("config", [PG_PLAN], indirect=True)
def test_a_rollback_during_a_10k_tenant_postgres_flip_wins(container: Container, dbs: Databases) -> None:
    with dbs.target() as conn:
        conn.execute(
            "insert into public.tenants (slug, name, tier, display_name)"
            " select format('load_%%s', lpad(i::text, 5, '0')), 'Load', 'ga', 'Load'"
            " from generate_series(1, %s) as i",
            (LOAD_TENANTS,),
        )
    pick = random.Random(14)
    for _ in range(4):
        reset(dbs)
        after = pick.randint(0, LOAD_TENANTS - 2_000)  # a random instant of the flip, and a tenant it has not
        victim = f"load_{pick.randint(after + 1_001, LOAD_TENANTS):05d}"  # reached yet (the cohort is in slug order)
        trial(container, dbs, victim=victim, after=after)


@pytest.mark.parametrize("config", [CLI_PLAN], indirect=True)
def test_a_rollback_during_a_slow_command_backend_flip_wins(container: Container, dbs: Databases) -> None:
    pick = random.Random(6)
    cohort = [f"ga_00{i}" for i in range(1, 10)]
    for _ in range(3):
        reset(dbs)
        victim = pick.choice(cohort)
        trial(container, dbs, victim=victim, after=pick.randint(0, len(cohort)))
