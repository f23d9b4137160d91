"""Rollback readiness as a pure verdict: each check is a fact with a short detail; any failed check blocks.

The checks (runbook §6, checked before a step instead of at 3 a.m.): every migration of the release has its
``_rollback.sql`` pair; the restore function exists in the target database; the flag backend answers; the smoke
command can start. A check that cannot apply (nothing configured to check) is shown as skipped and never passes for
something that did not happen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from commands.breakglass.model import FLAG, REASON_SHOWN
from commands.errors import UserError

RESTORE_CALL = re.compile(r"^\s*(?:select|call|perform)\s+(?P<name>[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)\s*\(", re.I)


class CheckState(Enum):
    PASS = "pass"  # noqa: S105 - a check outcome, not a password
    FAIL = "fail"
    SKIPPED = "skipped"


ICONS = {CheckState.PASS: "✅", CheckState.FAIL: "❌", CheckState.SKIPPED: "➖"}


@dataclass(frozen=True)
class Check:
    name: str  # "rollback files", "restore function", "flag backend", "smoke command"
    state: CheckState
    detail: str  # one clause: what was found, or what is wrong

    @property
    def line(self) -> str:
        return f"{ICONS[self.state]} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.state is CheckState.FAIL)

    @property
    def ready(self) -> bool:
        return not self.failed

    def headline(self) -> str:
        """The one line on an approval card."""
        passed = sum(c.state is CheckState.PASS for c in self.checks)
        if self.ready:
            return f"🛟 *Rollback path ready* ({passed} of {len(self.checks)} checks pass)"
        return f"🚫 *Rollback path broken*: {self.failed[0].name} — {self.failed[0].detail}"

    def detail(self) -> str:
        """Every check in one compact line, shown under the headline."""
        return " · ".join(c.line for c in self.checks)

    def sentence(self) -> str:
        """Why an approval is blocked, in one sentence naming the failed check(s)."""
        first = self.failed[0]
        more = f" (and {len(self.failed) - 1} more failed check)" if len(self.failed) > 1 else ""
        return f"the rollback path is broken: {first.name} — {first.detail}{more}"


def restore_function(restore_sql: str) -> str | None:
    """The function ``rollback.restore_sql`` calls (``select sp_restore_legacy_tenant_views();``), if it is one call."""
    found = RESTORE_CALL.match(restore_sql)
    return found["name"] if found else None


def rollback_files_check(
    pairs: Mapping[str, str | None], *, releases: Sequence[str], error: str | None = None
) -> Check:
    """``pairs``: each migration file of the release(s) → its rollback file name, or None when it has none;
    ``error``: why the application's files could not be read."""
    name = "rollback files"
    if not releases:
        return Check(name, CheckState.SKIPPED, "no release in zdm.toml covers this")
    if error is not None:
        return Check(name, CheckState.FAIL, f"could not read the application's files: {error}")
    if not pairs:
        return Check(name, CheckState.FAIL, f"no migration file matches release `{releases[0]}` in the checkout")
    missing = sorted(f for f, pair in pairs.items() if pair is None)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return Check(name, CheckState.FAIL, f"`{missing[0]}`{more} has no `_rollback.sql` pair")
    return Check(name, CheckState.PASS, f"{len(pairs)} of {len(pairs)} migrations of `{releases[0]}` have a pair")


def restore_function_check(
    function: str | None, *, present: bool | None, where: str, created_by: str | None = None, error: str | None = None
) -> Check:
    """``present``: ``to_regproc`` found it (None when it was not asked); ``created_by``: a file about to be
    applied that defines it; ``error``: why the database could not be asked."""
    name = "restore function"
    if function is None:
        return Check(name, CheckState.SKIPPED, "`rollback.restore_sql` is not a single function call")
    if error is not None:
        return Check(name, CheckState.FAIL, f"could not look up `{function}` in {where}: {error}")
    if present:
        return Check(name, CheckState.PASS, f"`{function}` exists in {where}")
    if created_by is not None:
        return Check(name, CheckState.PASS, f"`{function}` is created by `{created_by}` in this deploy")
    return Check(name, CheckState.FAIL, f"`{function}` does not exist in {where}")


def flag_backend_check(*, backend: str, answered: bool | None, how: str, error: str | None = None) -> Check:
    """``answered`` None: nothing configured to ask (a command backend without ``flag.check_argv``)."""
    name = "flag backend"
    if answered is None:
        return Check(name, CheckState.SKIPPED, f"the {backend} backend has no `flag.check_argv` to run")
    if answered:
        return Check(name, CheckState.PASS, f"the {backend} backend answered ({how})")
    return Check(name, CheckState.FAIL, f"the {backend} backend did not answer ({how}): {error or 'no answer'}")


def smoke_check(program: str, *, found: str | None, missing_env: Sequence[str]) -> Check:
    name = "smoke command"
    if found is None:
        return Check(name, CheckState.FAIL, f"`{program}` is not found on PATH")
    if missing_env:
        return Check(name, CheckState.FAIL, f"`{program}` needs {', '.join(missing_env)} set, and it is empty")
    return Check(name, CheckState.PASS, f"`{program}` found")


def verdict(checks: Sequence[Check]) -> Readiness:
    return Readiness(tuple(checks))


class RollbackNotReady(UserError):
    """An approval refused because a readiness check failed."""

    def __init__(self, *, subject: str, readiness: Readiness) -> None:
        self.readiness = readiness
        super().__init__(
            f"Nothing was approved for {subject}: {readiness.sentence()}; fix it and approve again (the card lists "
            f"every check), or ask for `{FLAG} {REASON_SHOWN}` with a platform lead's confirmation."
        )
