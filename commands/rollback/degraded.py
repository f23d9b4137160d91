"""``/zdm rollback tenant <slug>`` while the state database is down (degraded mode).

The mitigation does not need zdm's own database: the flag is turned off (target database / flag backend), the
legacy views are restored and the smoke tests run, each step journaled locally (``RollbackJournal``) before the
next. When the state database answers again, ``replay`` writes each journaled rollback there — the rollback row,
one audit row per step, and its rollback-log entry through the outbox — exactly once, keyed by the rollback's uid.

Safety without the state database: only a direct (user-id) member of `oncall` may do it (user-group membership
cannot be checked against a cache that may be stale); a Slack retry of the same request is recognised by its
request id in the journal; no lease can be taken, but no flip can run either (flips need the state database), so
nothing can turn the flag back on underneath the rollback. ``--schema`` needs a second person and the database,
and is refused.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Protocol

from commands.config import RunbookConfig
from commands.errors import UserError
from commands.outbox.model import OutboxEntry, title_of
from commands.ports import AuditEvent, Clock, CommandRunner, FlagStore, RoleDirectory, TargetDatabase
from commands.rollback.args import ROLLBACK_ARGS
from commands.rollback.journal import JournalRecord, RollbackJournal, pending, pending_refusals
from commands.rollback.model import Rollback, RollbackRequest, Step, StepResult, StepStatus, initial_steps
from commands.rollback.smoke import run_smoke_tests
from commands.rollback.views import log_entry, marker

log = logging.getLogger(__name__)
ROLE = "oncall"
INTERRUPTED = "interrupted during the state-database outage (zdm stopped); check the tenant by hand"
MITIGATION = (Step.FLAG_OFF, Step.RESTORE_VIEWS, Step.SMOKE_TESTS)


class StateDatabaseDown(Exception):
    """The rollback could not be recorded: the state database does not answer (the degraded path takes over)."""

    def __init__(self, *, request: RollbackRequest, actor: str, correlation_id: str | None) -> None:
        super().__init__(f"state database unavailable for the rollback of {request.slug}")
        self.request = request
        self.actor = actor
        self.correlation_id = correlation_id


class DegradedNotAllowed(UserError):
    pass


class RollbackImporter(Protocol):
    def import_once(
        self, rollback: Rollback, *, audits: Sequence[tuple[AuditEvent, datetime]], entry: Callable[[int], OutboxEntry]
    ) -> int | None:
        """In one state-database transaction: the rollback row (finished), its audit rows (``rollback_id`` added to
        each detail), the flag-off in zdm's exposure record and the rollback-log outbox entry made by ``entry(id)``.
        Returns the new id, or None when a row with the rollback's uid is already there (nothing written)."""
        ...

    def audit_once(self, event: AuditEvent, *, at: datetime, key: str) -> bool:
        """One audit row, unless a row with ``detail.journal_uid = key`` is there already; True when written."""
        ...


@dataclass(frozen=True)
class DegradedPorts:
    clock: Clock
    flags: FlagStore
    target: TargetDatabase
    runner: CommandRunner
    roles: RoleDirectory
    journal: RollbackJournal
    importer: RollbackImporter


@dataclass(frozen=True)
class Admitted:
    rollback: Rollback
    fresh: bool  # False: a Slack retry of a request already journaled


class DegradedRollbacks:
    def __init__(
        self, *, config: RunbookConfig, ports: DegradedPorts, smoke_env: Mapping[str, str] | None = None
    ) -> None:
        self._config = config
        self._p = ports
        self._smoke_env = dict(smoke_env or {})
        self._running: set[str] = set()  # admitted here and not finished: the replay leaves them for later
        self._lock = threading.Lock()

    def seen(self, request_id: str) -> bool:
        """True when this Slack request already ran in degraded mode (a retry arriving after the outage)."""
        return bool(request_id) and any(r.data.get("request_id") == request_id for r in self._p.journal.records())

    def admit(self, down: StateDatabaseDown, *, request_id: str) -> Admitted:
        """Before the ack: who and what may run in degraded mode; journals the request. Raises ``UserError``."""
        if down.request.schema_version:
            raise DegradedNotAllowed(
                "The state database is down, so `--schema` (which needs a second person's confirmation) cannot run "
                f"now; run `{ROLLBACK_ARGS.form('tenant')}` without it to turn the flag off, and add the schema step "
                "later."
            )
        if down.actor not in self._p.roles.members(ROLE):
            log.warning("degraded rollback refused for %s: not a direct member of %s", down.actor, ROLE)
            refusal = {
                "actor": down.actor, "subject": down.request.slug, "correlation_id": down.correlation_id,
                "why": f"state database down: not a direct (user-id) member of `{ROLE}`",
            }  # fmt: skip
            self._p.journal.append(
                JournalRecord(str(uuid.uuid4()), "refused", self._p.clock.now().isoformat(), refusal)
            )
            raise DegradedNotAllowed(
                "The state database is down, so zdm can only confirm `oncall` members listed by user id in zdm.toml "
                "(not through a user group); ask one of them to run the rollback."
            )
        now = self._p.clock.now()
        rollback = Rollback(
            id=0, tenant=down.request.slug, flag=self._config.flag.name, requested_by=down.actor,
            reason=down.request.reason, schema_version=None, created_at=now, steps=initial_steps(down.request),
            correlation_id=down.correlation_id, uid=str(uuid.uuid4()),
        )  # fmt: skip
        data = {
            "tenant": rollback.tenant, "flag": rollback.flag, "requested_by": rollback.requested_by,
            "reason": rollback.reason, "correlation_id": rollback.correlation_id, "request_id": request_id or None,
        }  # fmt: skip
        record = JournalRecord(uid=rollback.uid, kind="requested", at=now.isoformat(), data=data)
        with self._lock:
            fresh = self._p.journal.claim(record, request_id=request_id)
            if fresh:
                self._running.add(rollback.uid)
        return Admitted(rollback, fresh=fresh)

    def run(self, rollback: Rollback) -> str:
        """After the ack: the mitigation steps, each journaled; the sentence for the requester."""
        try:
            for step in MITIGATION:
                result = self._step(rollback, step)
                rollback = rollback.with_step(result)
                data: dict[str, str | None] = {"step": step.value, "status": result.status.value}
                data |= {"detail": result.detail, "output_tail": result.output_tail}
                self._p.journal.append(JournalRecord(rollback.uid, "step", self._p.clock.now().isoformat(), data))
        finally:
            with self._lock:
                self._running.discard(rollback.uid)
        done = ", ".join(f"{s.step.value.replace('_', ' ')}: {s.status.value}" for s in rollback.steps[:3])
        return (
            f"Rolled back `{rollback.tenant}` in degraded mode (the state database is down): {done}. Journaled "
            f"locally; zdm writes the rollback record, its audit rows and the rollback-log entry once the state "
            "database answers again."
        )

    def _step(self, rollback: Rollback, step: Step) -> StepResult:
        try:
            if step == Step.FLAG_OFF:
                detail = self._p.flags.set_enabled(
                    tenant=rollback.tenant, flag=rollback.flag, enabled=False, actor=rollback.requested_by
                )
            elif step == Step.RESTORE_VIEWS:
                detail = self._p.target.run_sql(self._config.rollback.restore_sql)
            else:
                return run_smoke_tests(
                    rollback, config=self._config, runner=self._p.runner, clock=self._p.clock, failures=None,
                    env=self._smoke_env,
                )  # fmt: skip
        except Exception as exc:  # a failing step is reported; the later safe steps still run
            log.exception("degraded rollback %s step %s failed", rollback.uid, step.value)
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            return StepResult(step, StepStatus.FAILED, f"{type(exc).__name__}: {message}", self._p.clock.now())
        return StepResult(step, StepStatus.OK, detail, self._p.clock.now())

    def replay(self, now: datetime) -> int:
        """Write the journaled rollbacks to the state database, each exactly once; returns how many were new.
        Touches the database only when the journal holds something not replayed yet."""
        count = 0
        with self._lock:
            running = set(self._running)
        for uid, records in pending(self._p.journal.records()).items():
            if uid in running:  # still running its steps here: replayed on a later tick, whole
                continue
            rollback, audits = _rebuilt(uid, records, now=now)
            path = self._config.rollback.log_path.as_posix()
            new_id = self._p.importer.import_once(rollback, audits=audits, entry=partial(_entry, rollback, path=path))
            self._p.journal.append(JournalRecord(uid, "replayed", now.isoformat(), {"rollback_id": str(new_id)}))
            count += new_id is not None
        for refusal in pending_refusals(self._p.journal.records()):  # the audit log has every refusal, once
            data = refusal.data
            event = AuditEvent(
                actor=str(data["actor"]), action="rollback.refused", subject=str(data["subject"]), outcome="refused",
                detail={"missing_role": ROLE, "why": data["why"], "degraded": True, "journal_uid": refusal.uid},
                correlation_id=data.get("correlation_id"),
            )  # fmt: skip
            self._p.importer.audit_once(event, at=datetime.fromisoformat(refusal.at), key=refusal.uid)
            self._p.journal.append(JournalRecord(refusal.uid, "replayed", now.isoformat()))
        return count


def _rebuilt(
    uid: str, records: list[JournalRecord], *, now: datetime
) -> tuple[Rollback, list[tuple[AuditEvent, datetime]]]:
    first = records[0].data
    created = datetime.fromisoformat(records[0].at)
    request = RollbackRequest(slug=str(first["tenant"]), reason=str(first["reason"]))
    rollback = Rollback(
        id=0, tenant=request.slug, flag=str(first["flag"]), requested_by=str(first["requested_by"]),
        reason=request.reason, schema_version=None, created_at=created, steps=initial_steps(request),
        correlation_id=first.get("correlation_id"), uid=uid,
    )  # fmt: skip
    audit = [(_event(rollback, "rollback.requested", "ok", {"reason": rollback.reason}), created)]
    finished = created
    for record in records[1:]:
        step, at = Step(str(record.data["step"])), datetime.fromisoformat(record.at)
        status, detail = StepStatus(str(record.data["status"])), str(record.data.get("detail") or "")
        rollback = rollback.with_step(StepResult(step, status, detail, at, record.data.get("output_tail")))
        audit.append((_event(rollback, f"rollback.{step.value}", status.value, {"detail": detail}), at))
        finished = max(finished, at)
    for step in MITIGATION:  # zdm stopped before journaling this step: never claimed as done
        if rollback.result(step).status == StepStatus.PENDING:
            rollback = rollback.with_step(StepResult(step, StepStatus.FAILED, INTERRUPTED, now))
            audit.append((_event(rollback, f"rollback.{step.value}", "failed", {"detail": INTERRUPTED}), now))
    logged = StepResult(Step.ROLLBACK_LOG, StepStatus.OK, "recorded after the outage; delivery pending", now)
    rollback = replace(rollback.with_step(logged), finished_at=finished)
    audit.append((_event(rollback, "rollback.rollback_log", "ok", {"detail": logged.detail}), now))
    audit.append((_event(rollback, "rollback.finished", rollback.status.value, {}), now))
    return rollback, audit


def _event(rollback: Rollback, action: str, outcome: str, detail: Mapping[str, object]) -> AuditEvent:
    return AuditEvent(
        actor=rollback.requested_by, action=action, subject=rollback.tenant, outcome=outcome,
        detail={**detail, "degraded": True}, correlation_id=rollback.correlation_id,
    )  # fmt: skip


def _entry(rollback: Rollback, rollback_id: int, *, path: str) -> OutboxEntry:
    text = log_entry(replace(rollback, id=rollback_id))
    at = rollback.finished_at or rollback.created_at
    return OutboxEntry(
        marker=marker(rollback.uid), path=path, title=title_of(text, fallback="rollback-log entry"), text=text,
        created_at=at, subject=f"rollback:{rollback_id}", next_attempt_at=at,
    )  # fmt: skip
