"""The flag store (``commands.ports.FlagStore``) in memory, answering like ``PgFlagStore``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from commands.ports import FlipOutcome


@dataclass
class MemoryFlags:
    state: dict[tuple[str, str], bool] = field(default_factory=dict)
    fail: bool = False

    def set_enabled(self, *, tenant: str, flag: str, enabled: bool, actor: str) -> str:
        if self.fail:
            raise RuntimeError("flag service unavailable")
        before = self.state.get((tenant, flag))
        self.state[(tenant, flag)] = enabled
        wanted = "on" if enabled else "off"
        if before is enabled:
            return f"`{flag}` was already {wanted} for `{tenant}`"
        if before is None and not enabled:
            return f"`{flag}` was already off for `{tenant}` (never enabled)"
        return f"`{flag}` turned {wanted} for `{tenant}`"

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        return {t for t in tenants if self.state.get((t, flag))}

    def enable_many(self, *, flag: str, tenants: Sequence[str], actor: str) -> FlipOutcome:
        if self.fail:
            raise RuntimeError("flag service unavailable")
        changed = [t for t in dict.fromkeys(tenants) if not self.state.get((t, flag))]
        for tenant in changed:
            self.state[(tenant, flag)] = True
        return FlipOutcome(
            changed=tuple(t for t in tenants if t in changed),
            unchanged=tuple(t for t in tenants if t not in changed),
        )
