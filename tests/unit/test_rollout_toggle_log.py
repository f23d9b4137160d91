"""A chunked flip logs one audit row per tenant it enabled, chunk by chunk, while the next chunk flips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from commands.ports import AuditEvent
from commands.rollout.exposure import guarded_enable
from commands.rollout.toggle_log import ToggleLog
from tests.fakes.audit import MemoryAudit
from tests.fakes.flags import MemoryFlags
from tests.fakes.rollouts import MemoryExposure

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
EVENT = AuditEvent("U0A", "rollout.flag_on", "", "ok", {"rollout_id": 1, "step": 0})


class BrokenAudit(MemoryAudit):
    def record_each(self, event: AuditEvent, subjects: Sequence[str], *, at: datetime) -> None:
        raise ConnectionError("audit_log unreachable")


def test_each_enabled_tenant_gets_one_row_in_order_and_none_for_the_unchanged() -> None:
    audit, flags = MemoryAudit(), MemoryFlags()
    flags.enable_many(flag="f", tenants=["t03"], actor="someone")  # already on: not a toggle of this flip
    tenants = [f"t{n:02d}" for n in range(10)]
    with ToggleLog(audit, EVENT, at=NOW) as toggles:
        result = guarded_enable(
            flags=flags, exposure=MemoryExposure(), flag="f", tenants=tenants, actor="U0A", at=NOW, chunk=3,
            stop_requested=lambda: None, toggled=toggles.log,
        )  # fmt: skip
    assert result.unchanged == ["t03"]
    assert [e.subject for e in audit.events] == [t for t in tenants if t != "t03"]
    assert {(e.action, e.outcome, e.actor) for e in audit.events} == {("rollout.flag_on", "ok", "U0A")}
    assert set(audit.times) == {NOW}


def test_a_failed_audit_write_fails_the_flip_once_every_chunk_is_done() -> None:
    flags = MemoryFlags()
    with pytest.raises(ConnectionError, match="audit_log unreachable"), ToggleLog(BrokenAudit(), EVENT, at=NOW) as log:
        guarded_enable(
            flags=flags, exposure=MemoryExposure(), flag="f", tenants=["a", "b", "c"], actor="U0A", at=NOW,
            chunk=1, stop_requested=lambda: None, toggled=log.log,
        )  # fmt: skip
    assert flags.enabled_among(flag="f", tenants=["a", "b", "c"]) == {"a", "b", "c"}


def test_toggles_made_before_the_flip_raised_are_still_logged() -> None:
    audit = MemoryAudit()
    with pytest.raises(RuntimeError, match="flag service down"), ToggleLog(audit, EVENT, at=NOW) as toggles:
        toggles.log(["a", "b"])
        raise RuntimeError("flag service down")
    assert [e.subject for e in audit.events] == ["a", "b"]
