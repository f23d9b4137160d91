"""The degraded-mode rollback journal: durable JSON lines, torn last line skipped, retries claimed once, and the
replay's view of a rollback whose worker stopped mid-way (no step claimed as done that was not journaled)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from commands.adapters.journal_file import FileRollbackJournal
from commands.rollback.degraded import INTERRUPTED, _rebuilt
from commands.rollback.journal import JournalRecord, pending
from commands.rollback.model import Step, StepStatus

AT = "2026-01-01T10:00:00+00:00"
REQUEST = {"tenant": "pilot_a", "flag": "f", "requested_by": "U1", "reason": "r", "correlation_id": "abc12345"}


def test_claim_appends_once_per_request_id_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    journal = FileRollbackJournal(tmp_path / "j" / "journal.jsonl")
    first = JournalRecord("u1", "requested", AT, {**REQUEST, "request_id": "T1"})
    assert journal.claim(first, request_id="T1")
    assert not journal.claim(JournalRecord("u2", "requested", AT, {**REQUEST, "request_id": "T1"}), request_id="T1")
    with (tmp_path / "j" / "journal.jsonl").open("a") as handle:
        handle.write('{"uid": "u1", "kind": "st')  # a crash mid-write
    assert journal.records() == [first]
    assert list(pending(journal.records())) == ["u1"]
    journal.append(JournalRecord("u1", "replayed", AT, {"rollback_id": "7"}))
    assert pending(journal.records()) == {}


def test_a_step_never_journaled_is_replayed_as_failed_not_as_done() -> None:
    records = [
        JournalRecord("u1", "requested", AT, REQUEST),
        JournalRecord("u1", "step", AT, {"step": "flag_off", "status": "ok", "detail": "flag off"}),
    ]
    now = datetime(2026, 1, 1, 11, tzinfo=UTC)
    rollback, audits = _rebuilt("u1", records, now=now)
    assert rollback.result(Step.FLAG_OFF).status == StepStatus.OK
    assert rollback.result(Step.SMOKE_TESTS).status == StepStatus.FAILED
    assert rollback.result(Step.SMOKE_TESTS).detail == INTERRUPTED
    assert rollback.finished_at is not None and rollback.uid == "u1"
    assert [e.action for e, _ in audits] == [
        "rollback.requested", "rollback.flag_off", "rollback.restore_views", "rollback.smoke_tests",
        "rollback.rollback_log", "rollback.finished",
    ]  # fmt: skip
    assert audits[-1][0].outcome == "failed"
