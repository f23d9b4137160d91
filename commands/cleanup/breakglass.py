"""Break-glass on a cleanup plan: ``/zdm cleanup plan <release> --break-glass "<reason>"``.

Requests the destructive cleanup before the stable days are over (or with a bad day in them). The cleanup
migration's ``_rollback.sql`` pair is not a gate break-glass can skip, and the `dba` and `platform_lead`
approvals are still needed.
"""

from __future__ import annotations

from commands.breakglass.model import Skip
from commands.cleanup.args import BREAK_GLASS, CLEANUP_ARGS
from commands.cleanup.service import CleanupService
from commands.errors import UserError


class CleanupBreakGlass(CleanupService):
    def break_glass_skip(self, *, text: str, actor: str) -> Skip:
        release = self._known(CLEANUP_ARGS.parse(text, apart=(BREAK_GLASS.name,)))
        self._files(release)  # a missing pair is one sentence, never skipped
        if self._p.cleanups.awaiting(release) is not None:
            raise UserError(f"A cleanup of `{release}` already awaits approval; approve it on its card.")
        decision = self.gate(release, self._p.clock.now())
        if decision.allowed:
            raise UserError(f"Nothing blocks the cleanup of `{release}` now; run `/zdm cleanup plan {release}`.")
        days = self._config.cleanup.stable_days
        return Skip(
            target=release,
            subject=release,
            what=f"request the destructive cleanup of `{release}`",
            gates=tuple(f"{days} stable days — {reason}" for reason in decision.reasons),
        )

    def break_glass_run(self, *, target: str, actor: str, confirmed_by: str, reason: str) -> str:
        return self.plan(target, actor=actor, break_glass=f"{reason} (confirmed by {confirmed_by})")
