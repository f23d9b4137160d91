"""Rollback readiness's pure verdict: which answers pass, which block, and the sentence that names the failure."""

from __future__ import annotations

from commands.readiness.model import (
    Check,
    CheckState,
    RollbackNotReady,
    flag_backend_check,
    restore_function,
    restore_function_check,
    rollback_files_check,
    smoke_check,
    verdict,
)

FN = "sp_restore_legacy_tenant_views"


def healthy() -> list[Check]:
    return [
        rollback_files_check({"1_a.sql": "1_a_rollback.sql"}, releases=["r1"]),
        restore_function_check(FN, present=True, where="the target database"),
        flag_backend_check(backend="postgres", answered=True, how="read of `public.feature_flags`"),
        smoke_check("/usr/bin/python3", found="/usr/bin/python3", missing_env=[]),
    ]


def test_all_checks_passing_is_ready_and_says_so_in_one_line() -> None:
    ready = verdict(healthy())
    assert ready.ready and not ready.failed
    assert ready.headline() == "🛟 *Rollback path ready* (4 of 4 checks pass)"
    assert ready.detail().count("✅") == 4


def test_restore_function_is_read_from_the_restore_sql() -> None:
    assert restore_function("select sp_restore_legacy_tenant_views();") == FN
    assert restore_function("  SELECT public.sp_restore( 1 )") == "public.sp_restore"
    assert restore_function("update t set x = 1") is None


def test_each_failed_check_blocks_and_is_named() -> None:
    failures = {
        "rollback files": rollback_files_check({"1_a.sql": None, "2_b.sql": "x"}, releases=["r1"]),
        "restore function": restore_function_check(FN, present=False, where="the target database"),
        "flag backend": flag_backend_check(backend="command", answered=False, how="`flags check`", error="exit 2"),
        "smoke command": smoke_check("pnpm", found=None, missing_env=[]),
    }
    for name, failed in failures.items():
        checks = [failed if c.name == name else c for c in healthy()]
        ready = verdict(checks)
        assert not ready.ready, name
        assert ready.headline().startswith(f"🚫 *Rollback path broken*: {name} — ")
        assert ready.sentence().startswith(f"the rollback path is broken: {name} — ")
        assert str(RollbackNotReady(subject="step 1", readiness=ready)).startswith("Nothing was approved for step 1")
    assert "`1_a.sql` has no `_rollback.sql` pair" in failures["rollback files"].detail
    assert "`pnpm` is not found on PATH" in failures["smoke command"].detail


def test_smoke_command_needs_its_environment() -> None:
    check = smoke_check("python3", found="/usr/bin/python3", missing_env=["DATABASE_URL"])
    assert check.state is CheckState.FAIL and "DATABASE_URL" in check.detail


def test_a_database_that_cannot_be_asked_fails_with_the_reason() -> None:
    check = restore_function_check(FN, present=None, where="`preview`", error="connection refused")
    assert check.state is CheckState.FAIL and "connection refused" in check.detail


def test_a_deploy_that_creates_the_function_passes() -> None:
    check = restore_function_check(FN, present=False, where="`preview`", created_by="20250301000000_x.sql")
    assert check.state is CheckState.PASS and "created by `20250301000000_x.sql`" in check.detail


def test_nothing_to_check_is_skipped_never_passed_and_does_not_block() -> None:
    checks = [
        rollback_files_check({}, releases=[]),
        restore_function_check(None, present=None, where="the target database"),
        flag_backend_check(backend="command", answered=None, how=""),
        smoke_check("python3", found="/usr/bin/python3", missing_env=[]),
    ]
    ready = verdict(checks)
    assert [c.state for c in checks[:3]] == [CheckState.SKIPPED] * 3
    assert ready.ready and ready.headline() == "🛟 *Rollback path ready* (1 of 4 checks pass)"


def test_a_release_whose_globs_match_nothing_fails() -> None:
    check = rollback_files_check({}, releases=["tenant-profiles"])
    assert check.state is CheckState.FAIL and "tenant-profiles" in check.detail
