"""Rollback of one tenant: the runbook §6 steps as data, and the pure decisions about them.

Steps run in a fixed order. A failing step never stops the later safe steps: the flag stays off and the rest of
the mitigation still happens. The schema step only exists with ``--schema <version>`` and waits for a confirm
button; the rollback-log entry is written once every earlier step has an outcome.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

SLUG = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,62}\Z")
VERSION = re.compile(r"\A[0-9]{1,20}\Z")
MAX_REASON = 500


class Step(StrEnum):
    FLAG_OFF = "flag_off"
    RESTORE_VIEWS = "restore_views"
    SMOKE_TESTS = "smoke_tests"
    SCHEMA_ROLLBACK = "schema_rollback"
    ROLLBACK_LOG = "rollback_log"


STEP_TITLES = {
    Step.FLAG_OFF: "Flag off",
    Step.RESTORE_VIEWS: "Restore legacy views",
    Step.SMOKE_TESTS: "Smoke tests",
    Step.SCHEMA_ROLLBACK: "Schema rollback",
    Step.ROLLBACK_LOG: "Rollback log",
}


class StepStatus(StrEnum):
    PENDING = "pending"
    AWAITING = "awaiting_confirmation"
    RUNNING = "running"  # claimed by the lease holder before its effect starts
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def done(self) -> bool:
        return self in (StepStatus.OK, StepStatus.FAILED, StepStatus.SKIPPED)


class RollbackStatus(StrEnum):
    RUNNING = "running"
    AWAITING = "awaiting_confirmation"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class StepResult:
    step: Step
    status: StepStatus = StepStatus.PENDING
    detail: str = ""
    finished_at: datetime | None = None
    output_tail: str | None = None


@dataclass(frozen=True)
class RollbackRequest:
    slug: str
    reason: str
    schema_version: str | None = None


@dataclass(frozen=True)
class Rollback:
    id: int
    tenant: str
    flag: str
    requested_by: str
    reason: str
    schema_version: str | None
    created_at: datetime
    steps: tuple[StepResult, ...]
    channel: str | None = None
    message_ts: str | None = None
    finished_at: datetime | None = None
    correlation_id: str | None = None
    schema_file: str | None = None
    schema_decision: Literal["apply", "skip"] | None = None
    decided_by: str | None = None
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))  # globally unique: the rollback-log marker
    schema_sha256: str | None = None  # the rollback file as requested; a different file voids the confirmation
    schema_flag_off_all: bool = False  # the confirmer chose "turn the flag off for every tenant, then apply"

    def result(self, step: Step) -> StepResult:
        for item in self.steps:
            if item.step == step:
                return item
        raise KeyError(step)

    @property
    def status(self) -> RollbackStatus:
        return overall_status(self.steps)

    def with_step(self, result: StepResult) -> Rollback:
        return replace(self, steps=tuple(result if s.step == result.step else s for s in self.steps))


def initial_steps(request: RollbackRequest) -> tuple[StepResult, ...]:
    schema = (
        StepResult(Step.SCHEMA_ROLLBACK)
        if request.schema_version
        else StepResult(Step.SCHEMA_ROLLBACK, StepStatus.SKIPPED, "not requested")
    )
    return (
        StepResult(Step.FLAG_OFF),
        StepResult(Step.RESTORE_VIEWS),
        StepResult(Step.SMOKE_TESTS),
        schema,
        StepResult(Step.ROLLBACK_LOG),
    )


def next_step(rollback: Rollback) -> Step | None:
    """The next step to run now, or None when the rollback is finished or waiting for a person."""
    for item in rollback.steps:
        if item.step == Step.SCHEMA_ROLLBACK and item.status in (StepStatus.PENDING, StepStatus.AWAITING):
            # The schema step waits for a person's decision (the confirm button).
            return item.step if rollback.schema_decision else None
        if item.status == StepStatus.PENDING:
            return item.step
    return None


# Steps whose effect is the same however often it runs (the flag is off, the views are the legacy ones, the
# migration history row says whether the schema file ran, the log entry is keyed by its marker): after a holder
# died mid-step they run again. The smoke tests are not repeated: once started, they ran.
RERUNNABLE = frozenset({Step.FLAG_OFF, Step.RESTORE_VIEWS, Step.SCHEMA_ROLLBACK, Step.ROLLBACK_LOG})


def recover_interrupted(rollback: Rollback, now: datetime) -> Rollback:
    """A new lease holder's view of steps a previous holder claimed and never finished (it died or lost its
    lease): re-runnable ones start over, any other one is failed with a plain reason — never run twice."""
    for item in rollback.steps:
        if item.status != StepStatus.RUNNING:
            continue
        if item.step in RERUNNABLE:
            rollback = rollback.with_step(StepResult(item.step))
        else:
            detail = "interrupted: the zdm worker running it stopped; not started again, check the tenant by hand"
            rollback = rollback.with_step(StepResult(item.step, StepStatus.FAILED, detail, now))
    return rollback


def needs_schema_prompt(rollback: Rollback) -> bool:
    """True when the runnable steps before the schema step are done and the schema step has not been asked."""
    schema = rollback.result(Step.SCHEMA_ROLLBACK)
    before = [s for s in rollback.steps if s.step in (Step.FLAG_OFF, Step.RESTORE_VIEWS, Step.SMOKE_TESTS)]
    return schema.status == StepStatus.PENDING and all(s.status.done for s in before)


def overall_status(steps: tuple[StepResult, ...]) -> RollbackStatus:
    if any(s.status == StepStatus.RUNNING for s in steps):
        return RollbackStatus.RUNNING
    if any(s.status == StepStatus.AWAITING for s in steps):
        return RollbackStatus.AWAITING
    if not all(s.status.done for s in steps):
        return RollbackStatus.RUNNING
    if any(s.status == StepStatus.FAILED for s in steps):
        return RollbackStatus.FAILED
    return RollbackStatus.SUCCEEDED
