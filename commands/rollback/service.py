"""Rollback service: ``/zdm rollback tenant <slug>`` from request to rollback-log entry.

``start`` validates and records the request (fast, before Slack's 3 s ack); ``run`` executes the steps and can be
called again at any time — after a crash, a restart or a confirm click — and continues where the record says.

``RollbackService`` is the stage's face: requests and the schema decision are here; ``steps`` runs the steps and
``context`` keeps the card, the role check and the audit trail they share.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

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
from commands.rollback.args import parse_rollback_args
from commands.rollback.context import RollbackContext
from commands.rollback.degraded import StateDatabaseDown
from commands.rollback.model import (
    Rollback,
    RollbackRequest,
    Step,
    StepStatus,
    initial_steps,
)
from commands.rollback.ports import RollbackPorts as RollbackPorts  # re-exported: callers build the stage from here
from commands.rollback.schema_step import APPROVERS, VOID, file_sha256, rollback_path
from commands.rollback.steps import QUEUED, RollbackSteps
from commands.rollback.steps import TARGET_ENV as TARGET_ENV  # re-exported: the queue's name for the target database
from commands.schema.layout import find_rollback

log = logging.getLogger(__name__)
ROLE = "oncall"
DECISION_WAIT_S = 20.0


class SchemaStepQueued(UserError):
    def __init__(self, *, rollback_id: int, detail: str) -> None:
        where = detail.removeprefix(f"{QUEUED}: ").removesuffix(" (`/zdm queue`)")
        super().__init__(
            f"Your decision on rollback #{rollback_id} is recorded; its schema step waits for the target database "
            f"({where}), then zdm applies it by itself and the card will update."
        )


class RollbackService:
    def __init__(
        self, *, config: RunbookConfig, ports: RollbackPorts, smoke_env: Mapping[str, str] | None = None
    ) -> None:
        self._config = config
        self._p = ports
        self._ctx = RollbackContext(config=config, ports=ports)
        self._steps = RollbackSteps(self._ctx, smoke_env=smoke_env or {})

    def start(self, *, text: str, actor: str, correlation_id: str | None = None, state_down: bool = False) -> Rollback:
        """Check who asks and what, then record the rollback. Raises ``UserError`` with nothing changed, and
        ``StateDatabaseDown`` when the state database does not answer (``state_down``: known already) — the caller
        may then run the degraded path (``commands.rollback.degraded``)."""
        self._ctx.require(actor, ROLE, action="run rollbacks", subject=text.strip()[:100], ref=correlation_id)
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
        self._ctx.audit(rollback, "rollback.requested", "ok", {"reason": rollback.reason})
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

    def _find_rollback_file(self, version: str) -> str:
        found = find_rollback(version, rollbacks=self._config.rollbacks_path, migrations=self._config.migrations_path)
        if found is None:
            app = self._config.app
            folders = f"{app.rollbacks_dir.as_posix()}` or `{app.migrations_dir.as_posix()}"
            raise RollbackFileMissing(version=version, folder=folders)
        return found.name

    def run(self, rollback_id: int, *, wait_s: float = 0) -> Rollback | None:
        """Run every step that can run now; safe to call repeatedly and from several processes.

        Under the rollback's lease every write is fenced, so a worker that lost the lease stops instead of writing
        late, and returns the record as the new holder keeps it. A step that must not run twice (the smoke tests)
        is claimed (recorded as running) before it starts; the others have the same effect however often they
        run."""
        try:
            return self._steps.run(rollback_id, wait_s=wait_s)
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

    def decide_schema(
        self, *, rollback_id: int, actor: str, apply: bool, flag_off_all: bool = False
    ) -> Rollback | None:
        """The buttons on the ``#release`` card: apply (a `dba` or `platform_lead` other than the requester; with
        other tenants on the flag only as "turn the flag off for all, then apply"), or skip (on-call too). A second
        click answers "stale"; a rollback file changed since the request voids the confirmation."""
        roles = APPROVERS if apply else (ROLE, *APPROVERS)
        action = f"{'apply' if apply else 'skip'} schema rollbacks"
        self._ctx.require(actor, roles, action=action, subject=f"rollback#{rollback_id}")
        current = self._p.repo.get(rollback_id)
        if current is None or current.result(Step.SCHEMA_ROLLBACK).status != StepStatus.AWAITING:
            raise StalePrompt(what="this rollback is no longer waiting for a schema decision")
        if apply and actor == current.requested_by:
            self._ctx.audit(current, "rollback.schema_refused", "refused", {"why": "requester"}, actor=actor)
            raise SecondPersonRequired(rollback_id=rollback_id)
        if apply and not flag_off_all and (others := len(self._ctx.schema_step.others_on(current))):
            self._ctx.refresh_message(current)
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

    def relink_cards(self) -> int:
        """After a restart: refresh the card of every unfinished rollback (re-posted if gone, buttons and all)."""
        return self._ctx.relink_cards()
