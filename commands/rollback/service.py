"""Rollback service: ``/zdm rollback tenant <slug>`` from request to rollback-log entry.

``start`` validates and records the request (fast, before Slack's 3 s ack); ``run`` executes the steps and can be
called again at any time — after a crash, a restart or a confirm click — and continues where the record says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from commands.authz import require_role
from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import (
    LockLost,
    RollbackBusy,
    RollbackFileChanged,
    RollbackFileMissing,
    SecondPersonRequired,
    StalePrompt,
    TenantNotFound,
    TenantsStillOn,
    UserError,
)
from commands.live_cards import show_card, stored_ref
from commands.ports import (
    AuditEvent,
    AuditLog,
    Clock,
    CommandRunner,
    FlagStore,
    JobFailures,
    Notifier,
    OutageCheck,
    RoleDirectory,
    TargetDatabase,
)
from commands.queue.model import Kind
from commands.queue.ports import WorkQueue
from commands.rollback.args import parse_rollback_args
from commands.rollback.degraded import StateDatabaseDown
from commands.rollback.model import (
    RERUNNABLE,
    Rollback,
    RollbackRequest,
    RollbackStatus,
    Step,
    StepResult,
    StepStatus,
    initial_steps,
    needs_schema_prompt,
    next_step,
    recover_interrupted,
)
from commands.rollback.ports import RollbackLogFile, RollbackRepository
from commands.rollback.schema_step import APPROVERS, VOID, SchemaStep, file_sha256, rollback_path
from commands.rollback.smoke import run_smoke_tests
from commands.rollback.views import log_entry, marker, rollback_card
from commands.rollout.exposure import ExposureRecord
from commands.schema.layout import find_rollback

log = logging.getLogger(__name__)
ROLE = "oncall"
DECISION_WAIT_S = 20.0
QUEUED = "queued"  # the schema step's detail while it waits for its turn on the target database
TARGET_ENV = "target"  # the queue's name for the target database, where schema rollbacks apply


class SchemaStepQueued(UserError):
    def __init__(self, *, rollback_id: int, detail: str) -> None:
        where = detail.removeprefix(f"{QUEUED}: ").removesuffix(" (`/zdm queue`)")
        super().__init__(
            f"Your decision on rollback #{rollback_id} is recorded; its schema step waits for the target database "
            f"({where}), then zdm applies it by itself and the card will update."
        )


@dataclass(frozen=True)
class RollbackPorts:
    clock: Clock
    flags: FlagStore
    target: TargetDatabase
    runner: CommandRunner
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    log_file: RollbackLogFile
    repo: RollbackRepository
    outage: OutageCheck  # tells "the state database went away" from other errors
    failures: JobFailures | None = None  # smoke-test failures also go to the release channel, folded
    exposure: ExposureRecord | None = None  # zdm's own record of who has the flag on
    queue: WorkQueue | None = None  # the schema step waits for work running on the target database (jumps the line)


class RollbackService:
    def __init__(
        self, *, config: RunbookConfig, ports: RollbackPorts, smoke_env: Mapping[str, str] | None = None
    ) -> None:
        self._config = config
        self._p = ports
        self._smoke_env = dict(smoke_env or {})
        self._schema_step = SchemaStep(config, ports.clock, ports.flags, ports.target, ports.audit)

    def start(self, *, text: str, actor: str, correlation_id: str | None = None, state_down: bool = False) -> Rollback:
        """Check who asks and what, then record the rollback. Raises ``UserError`` with nothing changed, and
        ``StateDatabaseDown`` when the state database does not answer (``state_down``: known already) — the caller
        may then run the degraded path (``commands.rollback.degraded``)."""
        self._require(actor, ROLE, action="run rollbacks", subject=text.strip()[:100], ref=correlation_id)
        request = parse_rollback_args(text)
        if not self._p.target.tenant_exists(request.slug):
            raise TenantNotFound(slug=request.slug)
        now = self._p.clock.now()
        if state_down:
            raise StateDatabaseDown(request=request, actor=actor, correlation_id=correlation_id)
        try:
            rollback = self._create(request, actor=actor, now=now, correlation_id=correlation_id)
        except Exception as exc:
            if not self._p.outage(exc):
                raise
            raise StateDatabaseDown(request=request, actor=actor, correlation_id=correlation_id) from exc
        self._audit(rollback, "rollback.requested", "ok", {"reason": rollback.reason})
        return rollback

    def _create(self, request: RollbackRequest, *, actor: str, now: datetime, correlation_id: str | None) -> Rollback:
        schema_file = self._find_rollback_file(request.schema_version) if request.schema_version else None
        pinned = file_sha256(rollback_path(self._config, schema_file)) if schema_file else None
        return self._p.repo.create(
            Rollback(
                id=0,
                tenant=request.slug,
                flag=self._config.flag.name,
                requested_by=actor,
                reason=request.reason,
                schema_version=request.schema_version,
                schema_file=schema_file,
                schema_sha256=pinned,
                created_at=now,
                steps=initial_steps(request),
                correlation_id=correlation_id,
            )
        )

    def run(self, rollback_id: int, *, wait_s: float = 0) -> Rollback | None:
        """Run every step that can run now; safe to call repeatedly and from several processes.

        Under the rollback's lease every write is fenced, so a worker that lost the lease stops instead of writing
        late, and returns the record as the new holder keeps it. A step that must not run twice (the smoke tests)
        is claimed (recorded as running) before it starts; the others have the same effect however often they
        run."""
        try:
            return self._run_held(rollback_id, wait_s=wait_s)
        except LockLost:
            log.warning("rollback %s: lease taken over by another worker; this one stopped", rollback_id)
            return self._p.repo.get(rollback_id)

    def run_requested(self, rollback_id: int) -> str | None:
        """``run`` right after the request (after Slack's ack): a sentence for the requester only when the state
        database went away mid-way — the steps recorded so far stand and the rest runs by itself."""
        try:
            self.run(rollback_id)
        except Exception as exc:
            if not self._p.outage(exc):
                raise
            log.warning("rollback %s: state database lost mid-way (%s)", rollback_id, type(exc).__name__)
            return (
                f"zdm lost its state database during rollback #{rollback_id}; the steps recorded so far stand and zdm "
                f"finishes the rest by itself once the database answers ({self._config.channels.release} shows "
                "them). Do not start it again."
            )
        return None

    def _run_held(self, rollback_id: int, *, wait_s: float) -> Rollback | None:
        with self._p.repo.exclusive(rollback_id, wait_s=wait_s) as mine:
            rollback = self._p.repo.get(rollback_id)
            if not mine or rollback is None:
                return rollback
            recovered = recover_interrupted(rollback, self._p.clock.now())
            if recovered != rollback:
                self._p.repo.save(recovered)
                for item in recovered.steps:
                    if item.status == StepStatus.FAILED and rollback.result(item.step).status == StepStatus.RUNNING:
                        self._audit(
                            recovered, f"rollback.{item.step.value}", item.status.value, {"detail": item.detail}
                        )
                rollback = recovered
            rollback = self._ensure_message(rollback)
            while (step := next_step(rollback)) is not None:
                if step == Step.SCHEMA_ROLLBACK and (waiting := self._schema_turn(rollback)) is not None:
                    rollback = self._wait_for_turn(rollback, waiting)
                    break
                if step not in RERUNNABLE:  # claimed first (a fenced write): never started twice
                    claimed = StepResult(step, StepStatus.RUNNING, "running", self._p.clock.now())
                    self._p.repo.save(rollback.with_step(claimed))
                rollback = rollback.with_step(self._run_step(rollback, step))
                self._p.repo.save(rollback)
                if step == Step.SCHEMA_ROLLBACK and self._p.queue is not None:
                    self._p.queue.done_with(kind=Kind.SCHEMA_ROLLBACK, ref=rollback.id)
                result = rollback.result(step)
                actor = rollback.decided_by if step == Step.SCHEMA_ROLLBACK and rollback.decided_by else None
                self._audit(
                    rollback, f"rollback.{step.value}", result.status.value, {"detail": result.detail}, actor=actor
                )
                self._refresh_message(rollback)
            if needs_schema_prompt(rollback):
                rollback = rollback.with_step(
                    StepResult(
                        Step.SCHEMA_ROLLBACK,
                        StepStatus.AWAITING,
                        f"waits for a second person to apply `{rollback.schema_file}` (or anyone to skip it)",
                    )
                )
                self._p.repo.save(rollback)
                self._refresh_message(rollback)
            if rollback.status in (RollbackStatus.SUCCEEDED, RollbackStatus.FAILED) and not rollback.finished_at:
                rollback = replace(rollback, finished_at=self._p.clock.now())
                self._p.repo.save(rollback)
                self._audit(rollback, "rollback.finished", rollback.status.value, {})
            return rollback

    def decide_schema(
        self, *, rollback_id: int, actor: str, apply: bool, flag_off_all: bool = False
    ) -> Rollback | None:
        """The buttons on the ``#release`` card: apply (a `dba` or `platform_lead` other than the requester; with
        other tenants on the flag only as "turn the flag off for all, then apply"), or skip (on-call too). A second
        click answers "stale"; a rollback file changed since the request voids the confirmation."""
        roles = APPROVERS if apply else (ROLE, *APPROVERS)
        action = f"{'apply' if apply else 'skip'} schema rollbacks"
        self._require(actor, roles, action=action, subject=f"rollback#{rollback_id}")
        current = self._p.repo.get(rollback_id)
        if current is None or current.result(Step.SCHEMA_ROLLBACK).status != StepStatus.AWAITING:
            raise StalePrompt(what="this rollback is no longer waiting for a schema decision")
        if apply and actor == current.requested_by:
            self._audit(current, "rollback.schema_refused", "refused", {"why": "requester"}, actor=actor)
            raise SecondPersonRequired(rollback_id=rollback_id)
        if apply and not flag_off_all and (others := len(self._schema_step.others_on(current))):
            self._refresh_message(current)
            raise TenantsStillOn(count=others, flag=current.flag, file=current.schema_file or "")
        decision = "apply" if apply else "skip"
        recorded = self._p.repo.record_decision(
            rollback_id=rollback_id, decision=decision, actor=actor, flag_off_all=apply and flag_off_all
        )
        if not recorded:
            raise StalePrompt(what="someone already decided this schema rollback")
        done = self.run(rollback_id, wait_s=DECISION_WAIT_S)
        if done is not None and done.result(Step.SCHEMA_ROLLBACK).detail.startswith(QUEUED):
            raise SchemaStepQueued(rollback_id=rollback_id, detail=done.result(Step.SCHEMA_ROLLBACK).detail)
        if done is None or done.result(Step.SCHEMA_ROLLBACK).status == StepStatus.AWAITING:
            # Another worker holds this rollback; the scheduler's resume job applies the recorded decision.
            raise RollbackBusy(rollback_id=rollback_id)
        if done.result(Step.SCHEMA_ROLLBACK).detail.startswith(VOID):
            raise RollbackFileChanged(rollback_id=rollback_id, file=done.schema_file or "")
        return done

    def resume_unfinished(self) -> int:
        """After a restart: continue rollbacks whose steps were interrupted. Returns how many it ran."""
        count = 0
        for rollback_id in self._p.repo.unfinished():
            try:
                self.run(rollback_id)
                count += 1
            except Exception:  # one broken record must not stop the others
                log.exception("could not resume rollback %s", rollback_id)
        return count

    # --- steps -----------------------------------------------------------------------------------------------

    def _schema_turn(self, rollback: Rollback) -> str | None:
        """None when the schema step may run now; else where it stands in the target database's queue (it jumps
        ahead of queued deploys and backfills, and waits only for the work running there)."""
        if self._p.queue is None or rollback.schema_decision != "apply":
            return None
        turn = self._p.queue.hold_for(
            kind=Kind.SCHEMA_ROLLBACK, env=TARGET_ENV, ref=rollback.id,
            requester=rollback.decided_by or rollback.requested_by,
        )  # fmt: skip
        return turn.sentence if turn.waiting else None

    def _wait_for_turn(self, rollback: Rollback, sentence: str) -> Rollback:
        detail = f"{QUEUED}: {sentence} (`/zdm queue`)"
        if rollback.result(Step.SCHEMA_ROLLBACK).detail != detail:
            rollback = rollback.with_step(StepResult(Step.SCHEMA_ROLLBACK, StepStatus.AWAITING, detail))
            self._p.repo.save(rollback)
            self._refresh_message(rollback)
        return rollback

    def _run_step(self, rollback: Rollback, step: Step) -> StepResult:
        try:
            return self._do_step(rollback, step)
        except LockLost:
            raise
        except Exception as exc:  # a failing step is reported, later safe steps still run
            log.exception("rollback %s step %s failed", rollback.id, step.value)
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            return StepResult(step, StepStatus.FAILED, f"{type(exc).__name__}: {message}", self._p.clock.now())

    def _do_step(self, rollback: Rollback, step: Step) -> StepResult:
        if step == Step.FLAG_OFF:
            detail = self._p.flags.set_enabled(
                tenant=rollback.tenant, flag=rollback.flag, enabled=False, actor=rollback.requested_by
            )
            if self._p.exposure is not None:
                self._p.exposure.record(
                    flag=rollback.flag, tenants=[rollback.tenant], enabled=False, actor=rollback.requested_by,
                    at=self._p.clock.now(),
                )  # fmt: skip
            return StepResult(step, StepStatus.OK, detail, self._p.clock.now())
        if step == Step.RESTORE_VIEWS:
            detail = self._p.target.run_sql(self._config.rollback.restore_sql)
            return StepResult(step, StepStatus.OK, detail, self._p.clock.now())
        if step == Step.SMOKE_TESTS:
            return self._smoke(rollback)
        if step == Step.SCHEMA_ROLLBACK:
            return self._schema(rollback)
        # durable first (the state database's outbox), delivered second: "recorded; in PR #12"
        detail = self._p.log_file.append(
            marker=marker(rollback.uid), text=log_entry(rollback), subject=f"rollback:{rollback.id}"
        )
        return StepResult(step, StepStatus.OK, detail, self._p.clock.now())

    def _smoke(self, rollback: Rollback) -> StepResult:
        return run_smoke_tests(
            rollback, config=self._config, runner=self._p.runner, clock=self._p.clock, failures=self._p.failures,
            env=self._smoke_env,
        )  # fmt: skip

    def _schema(self, rollback: Rollback) -> StepResult:
        return self._schema_step.run(rollback)

    # --- helpers ---------------------------------------------------------------------------------------------

    def _find_rollback_file(self, version: str) -> str:
        found = find_rollback(version, rollbacks=self._config.rollbacks_path, migrations=self._config.migrations_path)
        if found is None:
            app = self._config.app
            folders = f"{app.rollbacks_dir.as_posix()}` or `{app.migrations_dir.as_posix()}"
            raise RollbackFileMissing(version=version, folder=folders)
        return found.name

    def _require(
        self, actor: str, roles: str | tuple[str, ...], *, action: str, subject: str, ref: str | None = None
    ) -> None:
        p = self._p
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=roles, action=action, audit_action="rollback.refused",
            subject=subject, correlation_id=ref,
        )  # fmt: skip

    def _card(self, rollback: Rollback) -> Card:
        others: int | None = None
        if rollback.status == RollbackStatus.AWAITING:
            try:
                others = len(self._schema_step.others_on(rollback))
            except Exception:  # the card then says the count is unknown; the click re-checks it
                log.exception("could not count the tenants on `%s` for rollback %s", rollback.flag, rollback.id)
        return rollback_card(rollback, others_on=others)

    def _audit(
        self, rollback: Rollback, action: str, outcome: str, detail: Mapping[str, object], *, actor: str | None = None
    ) -> None:
        event = AuditEvent(
            actor=actor or rollback.requested_by,
            action=action,
            subject=rollback.tenant,
            outcome=outcome,
            detail={"rollback_id": rollback.id, **detail},
            correlation_id=rollback.correlation_id,
        )
        self._p.audit.record(event, at=self._p.clock.now())

    def _ensure_message(self, rollback: Rollback) -> Rollback:
        if rollback.message_ts:
            return rollback
        try:
            ref = self._p.notifier.post(self._config.channels.release, self._card(rollback))
        except Exception:  # Slack being down must not stop a mitigation; the record and log still happen
            log.exception("could not post rollback %s to %s", rollback.id, self._config.channels.release)
            return rollback
        rollback = replace(rollback, channel=ref.channel, message_ts=ref.ts)
        self._p.repo.save(rollback)
        return rollback

    def _refresh_message(self, rollback: Rollback) -> None:
        shown = stored_ref(rollback.channel, rollback.message_ts)
        if shown is None:
            return
        try:
            card, channel = self._card(rollback), self._config.channels.release
            ref = show_card(self._p.notifier, ref=shown, channel=channel, card=card, what=f"rollback #{rollback.id}")
            if ref != shown:  # posted again (e.g. with its confirm buttons): keep the new message
                current = self._p.repo.get(rollback.id) or rollback
                self._p.repo.save(replace(current, channel=ref.channel, message_ts=ref.ts))
        except Exception:
            log.exception("could not update rollback %s message", rollback.id)

    def relink_cards(self) -> int:
        """After a restart: refresh the card of every unfinished rollback (re-posted if gone, buttons and all)."""
        unfinished = [r for rollback_id in self._p.repo.unfinished() if (r := self._p.repo.get(rollback_id))]
        for rollback in unfinished:
            self._refresh_message(rollback)
        return len(unfinished)
