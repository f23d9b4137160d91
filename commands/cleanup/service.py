"""``/zdm cleanup plan <release>`` and its Approve button (runbook §7)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from commands.approvals import DBA_AND_LEAD, add_approval, fully_approved
from commands.cards import Card
from commands.checklist.model import named_release
from commands.cleanup.args import parse_cleanup_args
from commands.cleanup.model import DAY, Cleanup, CleanupStatus, Day, GateDecision, day_windows, decide, rollback_days
from commands.cleanup.ports import CleanupRepository
from commands.cleanup.views import cleanup_card
from commands.config import RunbookConfig
from commands.errors import StalePrompt, UserError
from commands.live_cards import show_card, stored_ref
from commands.ports import (
    AuditEvent,
    AuditLog,
    Clock,
    FlagStore,
    KpiSource,
    Notifier,
    ReleaseFacts,
    RoleDirectory,
    TargetDatabase,
)
from commands.rollout.exposure import ExposureRecord
from commands.rollout.gates import evaluate
from commands.rollout.model import RolloutStatus
from commands.text import whole_number

Answer = tuple[str, Card | None, Callable[[], object] | None]
MAX_TENANTS = 1_000_000


@dataclass(frozen=True)
class CleanupPorts:
    clock: Clock
    kpis: KpiSource
    facts: ReleaseFacts
    cleanups: CleanupRepository
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    target: TargetDatabase  # every tenant of the flag
    flags: FlagStore  # who has it on (zdm's own record for a backend that cannot say)
    exposure: ExposureRecord  # when zdm last enabled it
    held: HeldOut  # tenants held out after a rollback


class HeldOut(Protocol):
    def held(self, flag: str) -> dict[str, int]: ...


class CleanupService:
    def __init__(self, *, config: RunbookConfig, ports: CleanupPorts) -> None:
        self._config = config
        self._p = ports

    def command(self, *, text: str, actor: str) -> Answer:
        release = self._known(parse_cleanup_args(text))
        where = self._config.channels.release
        return (
            f"Checking the {self._config.cleanup.stable_days} stable days of `{release}`; the card follows in {where}.",
            None,
            lambda: self.plan(release, actor=actor),
        )

    def gate(self, release: str, now: datetime) -> GateDecision:
        """The decision with its evidence. Allowed only when every tenant is on the new path (flag on, none held
        out, failed or never enabled), then ``stable_days`` days with in-bounds KPIs counted from the last
        enablement; a rollback of the flag restarts the count."""
        spec = self._config.releases[release]
        flag = spec.flag or self._config.flag.name
        problems = self._pair_problems(release)
        rollout = self._p.facts.rollout_for(flag)
        tenants = self._p.target.find_tenants("*", limit=MAX_TENANTS)
        on = self._p.flags.enabled_among(flag=flag, tenants=tenants)
        held = self._p.held.held(flag)
        legacy = [t for t in tenants if t not in on or t in held]
        if legacy:
            names = ", ".join(
                f"`{t}`" + (f" (held out after rollback #{held[t]})" if t in held else "") for t in legacy[:10]
            )
            more = f" and {len(legacy) - 10} more" if len(legacy) > 10 else ""
            state = f"is {rollout.status.value}" if rollout else "has not been started"
            problems.insert(
                0,
                f"{len(legacy)} of {len(tenants)} tenants are still on the legacy path ({names}{more}); the rollout "
                f"of `{flag}` {state}",
            )
            return GateDecision(False, tuple(problems), (), None)
        timeline = self._p.exposure.timeline(flag)
        finished = rollout.finished_at if rollout and rollout.status is RolloutStatus.DONE else None
        reached = max((t for t in (timeline.last_enabled_at, finished) if t is not None), default=None)
        if reached is None:
            problems.insert(0, f"zdm has no record of enabling `{flag}`, so the start of the stable days is unknown")
            return GateDecision(False, tuple(problems), (), None)
        windows = day_windows(reached, now)
        kpi_tenants = sorted(on)
        readings = self._p.kpis.read(kpi_tenants, windows) if windows and kpi_tenants else []
        since_reached = self._p.facts.rollbacks(flag, since=reached)
        rolled = rollback_days(reached, [(r.tenant, r.created_at) for r in since_reached])
        gates = self._config.rollout.gates
        days = []
        for (since, until), reading in zip(windows, readings, strict=True):
            number = round((since - reached) / DAY) + 1
            report = evaluate([reading], gates, tenants=len(kpi_tenants))
            days.append(Day(number, since, until, report, rolled.get(number, ())))
        current = len(windows) + 1
        if current in rolled:
            days.append(Day(current, reached + DAY * (current - 1), reached + DAY * current, None, rolled[current]))
        return decide(
            reached_at=reached, now=now, days=days, stable_days=self._config.cleanup.stable_days, problems=problems
        )

    def plan(self, release: str, *, actor: str, break_glass: str | None = None) -> str:
        """``break_glass``: a confirmed break-glass requests the cleanup past the stable-days gate."""
        now = self._p.clock.now()
        decision = self.gate(release, now)
        cleanup = self._p.cleanups.awaiting(release)
        passing = decision.allowed or break_glass is not None
        if passing and cleanup is None:
            file, digest = self._files(release)
            cleanup = self._p.cleanups.create(
                Cleanup(
                    id=0, release=release, file=file, files_hash=digest, requester=actor, requested_at=now,
                    break_glass=break_glass,
                )
            )  # fmt: skip
            self._audit(actor, "cleanup.request", release, "ok", cleanup_id=cleanup.id, files_hash=digest)
        ref = self._p.notifier.post(self._config.channels.release, self._card(release, decision, cleanup))
        if cleanup is not None and passing:
            self._p.cleanups.save(replace(cleanup, channel=ref.channel, message_ts=ref.ts))
            how = "is allowed" if decision.allowed else "passes its gate by break-glass"
            return f"Cleanup of `{release}` {how}; cleanup #{cleanup.id} awaits one `dba` and one `platform_lead`."
        return f"Cleanup of `{release}` is not allowed yet: {decision.reasons[0]}."

    def approve(self, *, value: str, actor: str) -> str:
        """Under the cleanup's lock: a `dba` and a `platform_lead` clicking at once are both recorded."""
        cleanup_id = whole_number(value.partition(":")[0])
        if cleanup_id is None:
            raise StalePrompt(what="that cleanup is no longer awaiting approval")
        with self._p.cleanups.exclusive(cleanup_id, wait_s=10) as held:
            if not held:
                raise UserError("Another zdm worker is busy with this cleanup; press Approve again in a minute.")
            return self._approve(value=value, actor=actor)

    def _approve(self, *, value: str, actor: str) -> str:
        text, _, digest = value.partition(":")
        cleanup_id = whole_number(text)
        cleanup = self._p.cleanups.get(cleanup_id) if cleanup_id is not None else None
        if cleanup is None or cleanup.status is not CleanupStatus.AWAITING or digest != cleanup.files_hash:
            raise StalePrompt(what="that cleanup is no longer awaiting approval")
        now = self._p.clock.now()
        problem = None
        try:
            current = self._files(cleanup.release)[1]
        except UserError as exc:
            current, problem = "", str(exc)
        decision = self.gate(cleanup.release, now)
        if current != cleanup.files_hash or not (decision.allowed or cleanup.break_glass):
            why = problem or ("the cleanup migration or its pair changed" if current != cleanup.files_hash else "")
            cleanup = replace(cleanup, status=CleanupStatus.VOID, reason=why or decision.reasons[0])
            self._p.cleanups.save(cleanup)
            self._refresh(cleanup, decision)
            self._audit(actor, "cleanup.void", cleanup.release, "void", cleanup_id=cleanup.id, why=cleanup.reason)
            raise UserError(f"Cleanup #{cleanup.id} is void: {cleanup.reason}. Run `/zdm cleanup plan` again.")
        roles = {r for r in DBA_AND_LEAD if self._p.roles.has_role(actor, r)}
        subject = f"cleanup #{cleanup.id}"
        try:
            approvals = add_approval(
                cleanup.approvals, subject=subject, requester=cleanup.requester, user=actor, roles=roles, now=now
            )
        except UserError as exc:
            self._audit(actor, "cleanup.approve", cleanup.release, "refused", cleanup_id=cleanup.id, why=str(exc))
            raise
        done = fully_approved(approvals)
        cleanup = replace(cleanup, approvals=approvals, status=CleanupStatus.APPROVED if done else cleanup.status)
        self._p.cleanups.save(cleanup)
        self._audit(actor, "cleanup.approve", cleanup.release, "ok", cleanup_id=cleanup.id, role=approvals[-1].role)
        self._refresh(cleanup, decision)
        if not done:
            return f"Approved as `{approvals[-1].role}`; cleanup #{cleanup.id} still needs the other approval."
        return f"Cleanup #{cleanup.id} of `{cleanup.release}` is approved: `{cleanup.file}` may be scheduled."

    def _card(self, release: str, decision: GateDecision, cleanup: Cleanup | None) -> Card:
        file = self._config.releases[release].cleanup
        pair = self._pair(file) if file else None
        return cleanup_card(
            release=release, decision=decision, file=str(file) if file else None,
            pair=pair.name if pair and (self._config.app.root / pair).is_file() else None, cleanup=cleanup,
        )  # fmt: skip

    def _refresh(self, cleanup: Cleanup, decision: GateDecision) -> None:
        shown = stored_ref(cleanup.channel, cleanup.message_ts)
        if shown is None:
            return
        card = self._card(cleanup.release, decision, cleanup)
        channel = self._config.channels.release
        ref = show_card(self._p.notifier, ref=shown, channel=channel, card=card, what=f"cleanup #{cleanup.id}")
        if ref != shown:  # posted again: its buttons live on the new message
            current = self._p.cleanups.get(cleanup.id) or cleanup
            self._p.cleanups.save(replace(current, channel=ref.channel, message_ts=ref.ts))

    def relink_cards(self) -> int:
        """After a restart: refresh the card of each cleanup awaiting approval (re-posted if gone)."""
        waiting = [c for release in self._config.releases if (c := self._p.cleanups.awaiting(release))]
        for cleanup in waiting:
            self._refresh(cleanup, self.gate(cleanup.release, self._p.clock.now()))
        return len(waiting)

    def _pair_problems(self, release: str) -> list[str]:
        try:
            self._files(release)
        except UserError as exc:
            return [str(exc).rstrip(".")]
        return []

    def _files(self, release: str) -> tuple[str, str]:
        """The cleanup migration (relative to app.root) and the hash of it and its ``_rollback.sql`` pair."""
        file = self._config.releases[release].cleanup
        if file is None:
            raise UserError(f"release `{release}` names no cleanup migration (`cleanup = …` in zdm.toml)")
        root = self._config.app.root
        if not (root / file).is_file():
            raise UserError(f"the cleanup migration `{file}` does not exist")
        pair = self._pair(file)
        if not (root / pair).is_file():
            raise UserError(f"the cleanup migration has no `{pair.name}` pair; add it before any destructive change")
        digest = hashlib.sha256((root / file).read_bytes() + b"\0" + (root / pair).read_bytes()).hexdigest()[:16]
        return str(file), digest

    def _pair(self, file: Path) -> Path:
        """The cleanup migration's ``_rollback.sql``: beside it, else in ``app.rollbacks_dir`` (paths in app.root)."""
        beside = _pair(file)
        kept = self._config.app.rollbacks_dir / beside.name
        return (
            kept
            if not (self._config.app.root / beside).is_file() and (self._config.app.root / kept).is_file()
            else beside
        )

    def _known(self, name: str) -> str:
        named_release(self._config.releases, name)
        return name

    def _audit(self, actor: str, action: str, subject: str, outcome: str, **detail: object) -> None:
        self._p.audit.record(AuditEvent(actor, action, subject, outcome, detail), at=self._p.clock.now())


def _pair(file: Path) -> Path:
    return file.with_name(file.stem + "_rollback.sql")
