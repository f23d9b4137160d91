"""Model-based test of issue 14's promises: hypothesis drives the real rollout, rollback, alert and cleanup services
on the embedded Postgres with a fake clock through random sequences of start, approve/deny, rollback, include,
pause/resume/abort, error bursts, clock jumps and cleanup plans, and checks the invariants after every step:

- no held-out tenant (open or not re-included rollback) has the flag on;
- cleanup allowed ⇒ every tenant on, none held out, and `stable_days` since the last enablement and the last rollback;
- every flag change has its audit row (one per change, never two) and its rollback-log entry (exactly once);
- the alert's `exposed` scope is exactly the set of tenants with the flag on.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bot.bootstrap import Container
from commands.config import RunbookConfig, load_config
from commands.errors import UserError
from commands.rollback.views import marker
from commands.rollout.model import StepStatus
from commands.rollout.views import flip_marker
from tests.conftest import APPROVER, ONCALL, Databases
from tests.fakes import FakeClock

FLAG = "tenant.enableNewProfile"
TENANTS = ("demo_icupa", "pilot_a", "pilot_c", "ga_003", "ga_005")
JUMPS = (timedelta(minutes=1), timedelta(minutes=20), timedelta(hours=13), timedelta(days=1), timedelta(days=8))


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    """The runbook's cadence on fewer tenants (one approval each), quick gates and a no-op smoke test."""
    path = tmp_path / "zdm.toml"
    path.write_text(
        f"""
[roles]
oncall = ["{ONCALL}"]
release_approvers = ["{ONCALL}", "{APPROVER}"]
dba = ["U0DBA"]
platform_lead = ["U0LEAD"]

[app]
root = "{app_root}"

[rollback]
smoke_argv = ["true"]

[releases.profiles]
migrations = ["20250301000000_*"]
cleanup = "supabase/cleanup/20250401000000_drop_legacy_tenant_columns.sql"

[rollout]
default_plan = "small"
gates = {{ no_data = "pass", min_samples = 20 }}

[[rollout.plans.small]]
name = "demo tenant"
at = "0h"
slugs = ["demo_icupa"]

[[rollout.plans.small]]
name = "pilots"
at = "12h"
slugs = ["pilot_a", "pilot_c"]

[[rollout.plans.small]]
name = "everyone"
at = "36h"
all = true
approvals = 1
""",
        encoding="utf-8",
    )
    return load_config(path)


class SafetyMachine(RuleBasedStateMachine):
    def __init__(self, container: Container, dbs: Databases, clock: FakeClock) -> None:
        super().__init__()
        self.c, self.dbs, self.clock = container, dbs, clock
        self.s = container.services
        with dbs.target() as conn:  # a fresh world: nobody has the flag on, no traffic
            conn.execute("delete from public.feature_flags")
            conn.execute("delete from public.request_metrics")
        with dbs.state() as conn:
            for table in ("rollouts", "rollbacks", "rollout_includes", "flag_exposure", "cleanups", "alert_states"):
                conn.execute(f"delete from zdm.{table}")
            self.audit_from = conn.execute("select coalesce(max(id), 0) from zdm.audit_log").fetchone()[0]
        self.log = self.s.config.rollback_log_path
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("", encoding="utf-8")

    # --- actions ------------------------------------------------------------------------------------------------

    def _command(self, text: str, actor: str = ONCALL) -> None:
        """What a `/zdm rollout <text>` request runs: the check before the ack, then the work after it."""
        try:
            _, _, work = self.s.rollouts.command(text=text, actor=actor)
            if work is not None:
                work()
        except UserError:
            pass  # refused with a sentence: nothing changed

    @rule()
    def start_rollout(self) -> None:
        self._command("start")

    @rule(deny=st.sampled_from((False, False, False, True)))
    def decide(self, deny: bool) -> None:
        for rollout in self.c.services.rollout_repo.active():
            if rollout.step is None or rollout.step.status != StepStatus.PROMPTED:
                continue
            token = f"{rollout.id}:{rollout.current}:{rollout.digest}"
            try:
                if deny:
                    self.s.rollouts.deny(value=token, actor=APPROVER, reason="not now")
                else:
                    self.s.rollouts.approve(value=token, actor=APPROVER)
            except UserError:
                pass

    @rule(tenant=st.sampled_from(TENANTS))
    def rollback(self, tenant: str) -> None:
        try:
            started = self.s.rollbacks.start(text=f"tenant {tenant} errors", actor=ONCALL)
        except UserError:
            return
        self.s.rollbacks.run(started.id, wait_s=10)

    @rule(tenant=st.sampled_from(TENANTS))
    def include(self, tenant: str) -> None:
        self._command(f"include {tenant}")

    @rule(action=st.sampled_from(("pause", "resume", "resume", "abort")))
    def change_status(self, action: str) -> None:
        self._command(action if action == "resume" else f"{action} model test")

    @rule()
    def error_burst(self) -> None:
        now = self.clock.now()
        with self.dbs.target() as conn:
            conn.execute(
                "insert into public.request_metrics (tenant_slug, at, status, latency_ms)"
                " select f.tenant_slug, %s - n * interval '5 seconds', case when n %% 3 = 0 then 500 else 200 end, 90"
                " from public.feature_flags f, generate_series(1, 120) as n where f.flag = %s and f.enabled",
                (now, FLAG),
            )

    @rule(jump=st.sampled_from(JUMPS))
    def time_passes(self, jump: timedelta) -> None:
        now = self.clock.advance(jump)
        self.s.rollouts.advance_due(now)
        self.s.alerts.evaluate_due(now)

    @rule(wait=st.sampled_from((timedelta(hours=25), timedelta(days=8))))
    def follow_the_runbook(self, wait: timedelta) -> None:
        """An operator who starts or resumes the rollout, waits for the next step and approves it (so examples get
        far into the cadence, and past the stable days)."""
        active = self.s.rollout_repo.active()
        if not active:
            self.start_rollout()
        elif any(r.status.value == "paused" for r in active):
            self._command("resume")
        self.time_passes(wait)
        self.decide(False)

    @rule()
    def another_operator(self) -> None:
        self.follow_the_runbook(timedelta(hours=25))

    @invariant()
    def cleanup_allowed_only_when_everyone_is_on_and_stable(self) -> None:
        now = self.clock.now()
        decision = self.s.cleanup.gate("profiles", now)
        if not decision.allowed:
            return
        on = self._enabled()
        assert on >= self._all_tenants(), "cleanup allowed while a tenant is on the legacy path"
        assert not self.s.rollout_repo.held(FLAG)
        timeline = self.c.services.cleanup._p.exposure.timeline(FLAG)
        stable = timedelta(days=self.s.config.cleanup.stable_days)
        assert timeline.last_enabled_at is not None and now - timeline.last_enabled_at >= stable
        with self.dbs.state() as conn:
            last = conn.execute("select max(created_at) from zdm.rollbacks where flag = %s", (FLAG,)).fetchone()
        assert last is None or last[0] is None or now - last[0] >= stable

    # --- invariants ---------------------------------------------------------------------------------------------

    def _enabled(self) -> set[str]:
        with self.dbs.target() as conn:
            rows = conn.execute("select tenant_slug from public.feature_flags where flag = %s and enabled", (FLAG,))
            return {r[0] for r in rows}

    def _all_tenants(self) -> set[str]:
        with self.dbs.target() as conn:
            return {r[0] for r in conn.execute("select slug from public.tenants")}

    @invariant()
    def no_held_out_tenant_is_on(self) -> None:
        assert not (self._enabled() & set(self.s.rollout_repo.held(FLAG)))

    @invariant()
    def the_alert_watches_exactly_the_enabled_tenants(self) -> None:
        assert set(self.s.alerts.scope("error_rate")) == self._enabled()

    @invariant()
    def every_flag_change_has_one_audit_row_and_one_log_entry(self) -> None:
        log = self.log.read_text(encoding="utf-8")
        with self.dbs.state() as conn:
            flag_on = dict(
                conn.execute(
                    "select subject, count(*) from zdm.audit_log where id > %s and action = 'rollout.flag_on'"
                    " and outcome = 'ok' group by subject",
                    (self.audit_from,),
                ).fetchall()
            )
            rollbacks = conn.execute("select id, tenant, finished_at from zdm.rollbacks").fetchall()
            flag_off = {
                r[0]
                for r in conn.execute(
                    "select (detail->>'rollback_id')::bigint from zdm.audit_log where id > %s"
                    " and action = 'rollback.flag_off'",
                    (self.audit_from,),
                )
            }
        for tenant in self._enabled():
            assert flag_on.get(tenant, 0) >= 1, f"{tenant} is on without an audit row"
        for tenant, count in flag_on.items():
            turned_off = sum(1 for r in rollbacks if r[1] == tenant)
            assert count <= 1 + turned_off, f"{tenant}: {count} audit rows for at most {1 + turned_off} changes"
        for rollback_id, _, finished in rollbacks:
            assert rollback_id in flag_off
            rollback = self.s.rollback_repo.get(rollback_id)
            if finished is not None and rollback is not None:
                assert log.count(marker(rollback.uid)) == 1
        for rollout in self.s.rollout_repo.recent(limit=50):
            for index, state in enumerate(rollout.steps):
                if state.status == StepStatus.DONE and state.enabled:
                    assert log.count(flip_marker(rollout.uid, index)) == 1


def test_safety_promises_hold_under_random_interleavings(
    container: Container, dbs: Databases, clock: FakeClock
) -> None:
    with dbs.target() as conn:  # five tenants keep every example short
        keep = "slug not in ('demo_icupa', 'pilot_a', 'pilot_c', 'ga_003', 'ga_005')"
        conn.execute("delete from public.feature_flags")
        conn.execute(f"delete from public.orders where tenant_id in (select id from public.tenants where {keep})")
        conn.execute(f"delete from public.tenants where {keep}")
    run_state_machine_as_test(
        lambda: SafetyMachine(container, dbs, clock),  # type: ignore[arg-type]  # hypothesis takes any factory
        settings=settings(
            max_examples=6,
            stateful_step_count=40,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
