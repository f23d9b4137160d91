"""Rollback service: ``/zdm rollback tenant <slug>`` from request to rollback-log entry.

``start`` validates and records the request (fast, before Slack's 3 s ack); ``run`` executes the steps and can be
called again at any time — after a crash, a restart or a confirm click — and continues where the record says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from commands.argv import expand_argv
from commands.authz import require_role
from commands.config import RunbookConfig
from commands.errors import RollbackBusy, RollbackFileMissing, StalePrompt, TenantNotFound
from commands.live_cards import show_card, stored_ref
from commands.ports import (
    AuditEvent,
    AuditLog,
    Clock,
    CommandRunner,
    FlagStore,
    JobFailures,
    Notifier,
    RoleDirectory,
    RollbackLogFile,
    RollbackRepository,
    TargetDatabase,
)
from commands.rollback.model import (
    Rollback,
    RollbackStatus,
    Step,
    StepResult,
    StepStatus,
    initial_steps,
    needs_schema_prompt,
    next_step,
    parse_rollback_args,
)
from commands.rollback.views import log_entry, marker, rollback_card

log = logging.getLogger(__name__)
ROLE = "oncall"
DECISION_WAIT_S = 20.0


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
    failures: JobFailures | None = None  # smoke-test failures also go to the release channel, folded


class RollbackService:
    def __init__(
        self, *, config: RunbookConfig, ports: RollbackPorts, smoke_env: Mapping[str, str] | None = None
    ) -> None:
        self._config = config
        self._p = ports
        self._smoke_env = dict(smoke_env or {})

    def start(self, *, text: str, actor: str, correlation_id: str | None = None) -> Rollback:
        """Check who asks and what, then record the rollback. Raises ``UserError`` with nothing changed."""
        self._require_oncall(actor, action="run rollbacks", subject=text.strip()[:100], ref=correlation_id)
        request = parse_rollback_args(text)
        if not self._p.target.tenant_exists(request.slug):
            raise TenantNotFound(slug=request.slug)
        schema_file = self._find_rollback_file(request.schema_version) if request.schema_version else None
        now = self._p.clock.now()
        rollback = self._p.repo.create(
            Rollback(
                id=0,
                tenant=request.slug,
                flag=self._config.flag.name,
                requested_by=actor,
                reason=request.reason,
                schema_version=request.schema_version,
                schema_file=schema_file,
                created_at=now,
                steps=initial_steps(request),
                correlation_id=correlation_id,
            )
        )
        self._audit(rollback, "rollback.requested", "ok", {"reason": rollback.reason})
        return rollback

    def run(self, rollback_id: int, *, wait_s: float = 0) -> Rollback | None:
        """Run every step that can run now; safe to call repeatedly and from several processes."""
        with self._p.repo.exclusive(rollback_id, wait_s=wait_s) as mine:
            rollback = self._p.repo.get(rollback_id)
            if not mine or rollback is None:
                return rollback
            rollback = self._ensure_message(rollback)
            while (step := next_step(rollback)) is not None:
                rollback = rollback.with_step(self._run_step(rollback, step))
                self._p.repo.save(rollback)
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
                        f"confirm to apply `{rollback.schema_file}`",
                    )
                )
                self._p.repo.save(rollback)
                self._refresh_message(rollback)
            if rollback.status in (RollbackStatus.SUCCEEDED, RollbackStatus.FAILED) and not rollback.finished_at:
                rollback = replace(rollback, finished_at=self._p.clock.now())
                self._p.repo.save(rollback)
                self._audit(rollback, "rollback.finished", rollback.status.value, {})
            return rollback

    def decide_schema(self, *, rollback_id: int, actor: str, apply: bool) -> Rollback | None:
        """The confirm / skip buttons on the ``#release`` card. A second click answers "stale"."""
        self._require_oncall(actor, action="confirm schema rollbacks", subject=f"rollback#{rollback_id}", ref=None)
        current = self._p.repo.get(rollback_id)
        if current is None or current.result(Step.SCHEMA_ROLLBACK).status != StepStatus.AWAITING:
            raise StalePrompt(what="this rollback is no longer waiting for a schema decision")
        decision = "apply" if apply else "skip"
        if not self._p.repo.record_decision(rollback_id=rollback_id, decision=decision, actor=actor):
            raise StalePrompt(what="someone already decided this schema rollback")
        done = self.run(rollback_id, wait_s=DECISION_WAIT_S)
        if done is None or done.result(Step.SCHEMA_ROLLBACK).status == StepStatus.AWAITING:
            # Another worker holds this rollback; the scheduler's resume job applies the recorded decision.
            raise RollbackBusy(rollback_id=rollback_id)
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

    def _run_step(self, rollback: Rollback, step: Step) -> StepResult:
        try:
            return self._do_step(rollback, step)
        except Exception as exc:  # a failing step is reported, later safe steps still run
            log.exception("rollback %s step %s failed", rollback.id, step.value)
            message = " ".join(str(exc).split())[:300] or type(exc).__name__
            return StepResult(step, StepStatus.FAILED, f"{type(exc).__name__}: {message}", self._p.clock.now())

    def _do_step(self, rollback: Rollback, step: Step) -> StepResult:
        if step == Step.FLAG_OFF:
            detail = self._p.flags.set_enabled(
                tenant=rollback.tenant, flag=rollback.flag, enabled=False, actor=rollback.requested_by
            )
            return StepResult(step, StepStatus.OK, detail, self._p.clock.now())
        if step == Step.RESTORE_VIEWS:
            detail = self._p.target.run_sql(self._config.rollback.restore_sql)
            return StepResult(step, StepStatus.OK, detail, self._p.clock.now())
        if step == Step.SMOKE_TESTS:
            return self._smoke(rollback)
        if step == Step.SCHEMA_ROLLBACK:
            return self._schema(rollback)
        appended = self._p.log_file.append(marker=marker(rollback.id), text=log_entry(rollback))
        where = self._config.rollback.log_path.as_posix()
        detail = f"appended to `{where}`" if appended else f"already in `{where}`"
        return StepResult(step, StepStatus.OK, detail, self._p.clock.now())

    def _smoke(self, rollback: Rollback) -> StepResult:
        settings = self._config.rollback
        argv = expand_argv(settings.smoke_argv, tenant=rollback.tenant, flag=rollback.flag)
        result = self._p.runner.run(
            argv, timeout_s=settings.smoke_timeout_s, env=self._smoke_env, cwd=self._config.app.root
        )
        if result.ok:
            detail = f"passed in {result.duration_s:.1f} s"
        elif result.timed_out:
            detail = f"timed out after {settings.smoke_timeout_s:g} s"
        elif result.error:
            detail = f"could not start `{argv[0]}`: {result.error}"
        else:
            detail = f"failed with exit code {result.exit_code} after {result.duration_s:.1f} s"
        status = StepStatus.OK if result.ok else StepStatus.FAILED
        if not result.ok and self._p.failures is not None:
            self._p.failures.report(
                what=f"Smoke tests after the rollback of `{rollback.tenant}`",
                where=f"`{' '.join(argv)[:120]}` in the app checkout",
                error=detail,
                next_command=f"check `{rollback.tenant}` by hand (the rollback card has the test output)",
            )
        return StepResult(Step.SMOKE_TESTS, status, detail, self._p.clock.now(), result.output_tail)

    def _schema(self, rollback: Rollback) -> StepResult:
        if rollback.schema_decision == "skip":
            detail = f"skipped by <@{rollback.decided_by}>"
            return StepResult(Step.SCHEMA_ROLLBACK, StepStatus.SKIPPED, detail, self._p.clock.now())
        assert rollback.schema_version and rollback.schema_file
        path = self._config.migrations_path / rollback.schema_file
        detail = self._p.target.apply_rollback_file(
            path,
            version=rollback.schema_version,
            lock_timeout_ms=self._config.rollback.schema_lock_timeout_ms,
        )
        detail = f"{detail} (confirmed by <@{rollback.decided_by}>)"
        return StepResult(Step.SCHEMA_ROLLBACK, StepStatus.OK, detail, self._p.clock.now())

    # --- helpers ---------------------------------------------------------------------------------------------

    def _find_rollback_file(self, version: str) -> str:
        folder = self._config.migrations_path
        matches = sorted(folder.glob(f"{version}_*_rollback.sql"))
        if not matches:
            raise RollbackFileMissing(version=version, folder=str(self._config.app.migrations_dir))
        return matches[0].name

    def _require_oncall(self, actor: str, *, action: str, subject: str, ref: str | None) -> None:
        p = self._p
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=ROLE, action=action, audit_action="rollback.refused",
            subject=subject, correlation_id=ref,
        )  # fmt: skip

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
            ref = self._p.notifier.post(self._config.channels.release, rollback_card(rollback))
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
            card, channel = rollback_card(rollback), self._config.channels.release
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
