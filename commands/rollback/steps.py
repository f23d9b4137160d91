"""Running a rollback's steps: flag off, restore views, smoke tests, the schema rollback, the rollback-log entry.

Every step that can run now runs under the rollback's lease, in order, each result saved as it lands; a failing step
is reported and the later safe steps still run. The schema step waits for its turn on the target database's queue
(ahead of queued deploys and backfills, behind the work running there) and for a second person's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from commands.errors import LockLost
from commands.queue.model import Kind
from commands.rollback.context import RollbackContext
from commands.rollback.model import (
    RERUNNABLE,
    Rollback,
    RollbackStatus,
    Step,
    StepResult,
    StepStatus,
    needs_schema_prompt,
    next_step,
    recover_interrupted,
)
from commands.rollback.smoke import run_smoke_tests
from commands.rollback.views import log_entry, marker

log = logging.getLogger(__name__)
QUEUED = "queued"  # the schema step's detail while it waits for its turn on the target database
TARGET_ENV = "target"  # the queue's name for the target database, where schema rollbacks apply


class RollbackSteps:
    """``smoke_env``: environment variables for the smoke-test command."""

    def __init__(self, ctx: RollbackContext, *, smoke_env: Mapping[str, str]) -> None:
        self._ctx = ctx
        self._smoke_env = dict(smoke_env)

    def run(self, rollback_id: int, *, wait_s: float) -> Rollback | None:
        """Run every step that can run now under the rollback's lease (waiting up to ``wait_s`` for it); the record
        as it stands (None: there is no such rollback). ``LockLost`` when another worker took the lease over."""
        ctx, repo = self._ctx, self._ctx.ports.repo
        with repo.exclusive(rollback_id, wait_s=wait_s) as mine:
            rollback = repo.get(rollback_id)
            if not mine or rollback is None:
                return rollback
            rollback = self._recover(rollback)
            rollback = ctx.ensure_message(rollback)
            while (step := next_step(rollback)) is not None:
                if step == Step.SCHEMA_ROLLBACK and (waiting := self._schema_turn(rollback)) is not None:
                    rollback = self._wait_for_turn(rollback, waiting)
                    break
                rollback = self._run_and_record(rollback, step)
            if needs_schema_prompt(rollback):
                rollback = rollback.with_step(
                    StepResult(
                        Step.SCHEMA_ROLLBACK,
                        StepStatus.AWAITING,
                        f"waits for a second person to apply `{rollback.schema_file}` (or anyone to skip it)",
                    )
                )
                repo.save(rollback)
                ctx.refresh_message(rollback)
            if rollback.status in (RollbackStatus.SUCCEEDED, RollbackStatus.FAILED) and not rollback.finished_at:
                rollback = replace(rollback, finished_at=ctx.ports.clock.now())
                repo.save(rollback)
                ctx.audit(rollback, "rollback.finished", rollback.status.value, {})
            return rollback

    def _recover(self, rollback: Rollback) -> Rollback:
        """Steps a crash left running are failed (and audited), so the next run decides about them afresh."""
        recovered = recover_interrupted(rollback, self._ctx.ports.clock.now())
        if recovered != rollback:
            self._ctx.ports.repo.save(recovered)
            for item in recovered.steps:
                if item.status == StepStatus.FAILED and rollback.result(item.step).status == StepStatus.RUNNING:
                    self._ctx.audit(
                        recovered, f"rollback.{item.step.value}", item.status.value, {"detail": item.detail}
                    )
        return recovered

    def _run_and_record(self, rollback: Rollback, step: Step) -> Rollback:
        ctx, repo = self._ctx, self._ctx.ports.repo
        if step not in RERUNNABLE:  # claimed first (a fenced write): never started twice
            claimed = StepResult(step, StepStatus.RUNNING, "running", ctx.ports.clock.now())
            repo.save(rollback.with_step(claimed))
        rollback = rollback.with_step(self._run_step(rollback, step))
        repo.save(rollback)
        if step == Step.SCHEMA_ROLLBACK and ctx.ports.queue is not None:
            ctx.ports.queue.done_with(kind=Kind.SCHEMA_ROLLBACK, ref=rollback.id)
        result = rollback.result(step)
        actor = rollback.decided_by if step == Step.SCHEMA_ROLLBACK and rollback.decided_by else None
        ctx.audit(rollback, f"rollback.{step.value}", result.status.value, {"detail": result.detail}, actor=actor)
        ctx.refresh_message(rollback)
        return rollback

    def _schema_turn(self, rollback: Rollback) -> str | None:
        """None when the schema step may run now; else where it stands in the target database's queue (it jumps
        ahead of queued deploys and backfills, and waits only for the work running there)."""
        queue = self._ctx.ports.queue
        if queue is None or rollback.schema_decision != "apply":
            return None
        turn = queue.hold_for(
            kind=Kind.SCHEMA_ROLLBACK, env=TARGET_ENV, ref=rollback.id,
            requester=rollback.decided_by or rollback.requested_by,
        )  # fmt: skip
        return turn.sentence if turn.waiting else None

    def _wait_for_turn(self, rollback: Rollback, sentence: str) -> Rollback:
        detail = f"{QUEUED}: {sentence} (`/zdm queue`)"
        if rollback.result(Step.SCHEMA_ROLLBACK).detail != detail:
            rollback = rollback.with_step(StepResult(Step.SCHEMA_ROLLBACK, StepStatus.AWAITING, detail))
            self._ctx.ports.repo.save(rollback)
            self._ctx.refresh_message(rollback)
        return rollback

    def _run_step(self, rollback: Rollback, step: Step) -> StepResult:
        try:
            return self._do_step(rollback, step)
        except LockLost:
            raise
        except Exception as exc:  # a failing step is reported, later safe steps still run
            log.exception("rollback %s step %s failed", rollback.id, step.value)
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            return StepResult(step, StepStatus.FAILED, f"{type(exc).__name__}: {message}", self._ctx.ports.clock.now())

    def _do_step(self, rollback: Rollback, step: Step) -> StepResult:
        ctx, p = self._ctx, self._ctx.ports
        if step == Step.FLAG_OFF:
            detail = p.flags.set_enabled(
                tenant=rollback.tenant, flag=rollback.flag, enabled=False, actor=rollback.requested_by
            )
            if p.exposure is not None:
                p.exposure.record(
                    flag=rollback.flag, tenants=[rollback.tenant], enabled=False, actor=rollback.requested_by,
                    at=p.clock.now(),
                )  # fmt: skip
            return StepResult(step, StepStatus.OK, detail, p.clock.now())
        if step == Step.RESTORE_VIEWS:
            detail = p.target.run_sql(ctx.config.rollback.restore_sql)
            return StepResult(step, StepStatus.OK, detail, p.clock.now())
        if step == Step.SMOKE_TESTS:
            return run_smoke_tests(
                rollback, config=ctx.config, runner=p.runner, clock=p.clock, failures=p.failures, env=self._smoke_env
            )
        if step == Step.SCHEMA_ROLLBACK:
            return ctx.schema_step.run(rollback)
        # durable first (the state database's outbox), delivered second: "recorded; in PR #12"
        detail = p.log_file.append(
            marker=marker(rollback.uid), text=log_entry(rollback), subject=f"rollback:{rollback.id}"
        )
        return StepResult(step, StepStatus.OK, detail, p.clock.now())
