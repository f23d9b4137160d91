"""Rollback readiness, computed before every rollout step's approval card and every schema deploy card.

Each check asks the outside world through a port (the flag store, the command runner, a ``to_regproc`` lookup in
the target database, the PATH) and the pure model turns the answers into one verdict. Nothing here changes
anything: a check that cannot reach its subject fails with the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from commands.argv import expand_argv
from commands.config import RunbookConfig
from commands.ports import CommandRunner, FlagStore
from commands.readiness.model import (
    Check,
    Readiness,
    flag_backend_check,
    restore_function,
    restore_function_check,
    rollback_files_check,
    smoke_check,
    verdict,
)
from commands.readiness.ports import ProgramFinder, RoutineLookup
from commands.repository.ports import Repository
from commands.schema.history import list_migrations
from commands.schema.layout import find_rollback

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ReadinessPorts:
    flags: FlagStore
    runner: CommandRunner
    programs: ProgramFinder
    target: RoutineLookup  # the database a tenant rollback restores views in
    environments: Mapping[str, RoutineLookup] = field(default_factory=dict)  # schema environments' databases
    child_env: Mapping[str, str] = field(default_factory=dict)  # what smoke and flag commands get (DATABASE_URL)
    path: str | None = None  # the PATH those commands see
    repository: Repository | None = None  # `[app] repo`: the release files are read at a commit, not in app.root


class ReadinessService:
    def __init__(self, *, config: RunbookConfig, ports: ReadinessPorts) -> None:
        self._config = config
        self._p = ports

    def for_flag(self, flag: str) -> Readiness:
        """Before a rollout step of ``flag``: the releases of that flag, the target database, flags and smoke."""
        releases = [n for n, spec in self._config.releases.items() if (spec.flag or self._config.flag.name) == flag]
        return verdict(
            [
                self._rollback_files(releases, env=None, commit=None),
                self._restore(self._p.target, "the target database", applying=()),
                self._flag_backend(flag),
                self._smoke(flag),
            ]
        )

    def for_deploy(self, env: str, files: tuple[str, ...], *, commit: str | None = None) -> Readiness:
        """Before a schema deploy: the releases ``files`` belong to (read at ``commit`` with a repository), and the
        environment's database."""
        folder = self._migrations(env, self._config.app.root)
        releases = [
            n for n, spec in self._config.releases.items() if any(fnmatch(f, g) for f in files for g in spec.migrations)
        ]
        lookup = self._p.environments.get(env, self._p.target)
        return verdict(
            [
                self._rollback_files(releases, env=env, commit=commit),
                self._restore(lookup, f"`{env}`", applying=[folder / f for f in files]),
                self._flag_backend(self._config.flag.name),
                self._smoke(self._config.flag.name),
            ]
        )

    # --- checks ------------------------------------------------------------------------------------------------

    def _rollback_files(self, releases: Sequence[str], *, env: str | None, commit: str | None) -> Check:
        try:
            root = self._root(commit)
        except Exception as exc:  # the repository is the subject of the check: its failure is the answer
            log.warning("readiness: could not read the repository: %s", exc)
            return rollback_files_check({}, releases=releases, error=_short(exc))
        folder = self._migrations(env, root)
        rollbacks = root / self._config.app.rollbacks_dir
        pairs: dict[str, str | None] = {}
        for name in releases:
            globs = self._config.releases[name].migrations
            for migration in list_migrations(folder) if folder.is_dir() else []:
                if any(fnmatch(migration.file_name, g) for g in globs):
                    found = find_rollback(migration.version, rollbacks=rollbacks, migrations=folder)
                    pairs[migration.file_name] = found.name if found else None
        return rollback_files_check(pairs, releases=releases)

    def _root(self, commit: str | None) -> Path:
        """Where the application's files are: ``app.root``, or a repository snapshot (the commit, else the ref's)."""
        repository = self._p.repository
        if repository is None:
            return self._config.app.root
        return (repository.at(commit) if commit else repository.checkout(self._config.app.ref)).root

    def _restore(self, lookup: RoutineLookup, where: str, *, applying: Sequence[Path]) -> Check:
        function = restore_function(self._config.rollback.restore_sql)
        if function is None:
            return restore_function_check(None, present=None, where=where)
        try:
            present = lookup.routine_exists(function)
        except Exception as exc:  # the database is the subject of the check: its failure is the answer
            log.warning("readiness: could not look up %s in %s: %s", function, where, exc)
            return restore_function_check(function, present=None, where=where, error=_short(exc))
        return restore_function_check(function, present=present, where=where, created_by=_defines(applying, function))

    def _flag_backend(self, flag: str) -> Check:
        settings = self._config.flag
        if settings.backend == "command":
            if not settings.check_argv:
                return flag_backend_check(backend="command", answered=None, how="")
            argv = expand_argv(settings.check_argv, flag=flag)
            result = self._p.runner.run(
                argv, timeout_s=min(settings.command_timeout_s, CHECK_TIMEOUT_S), env=self._p.child_env,
                cwd=self._config.app.root,
            )  # fmt: skip
            how = f"`{' '.join(argv)[:80]}`"
            if result.ok:
                return flag_backend_check(backend="command", answered=True, how=how)
            why = "timed out" if result.timed_out else result.error or f"exit code {result.exit_code}"
            return flag_backend_check(backend="command", answered=False, how=how, error=why)
        how = f"read of `{settings.table}`"
        try:
            self._p.flags.enabled_among(flag=flag, tenants=[])
        except Exception as exc:
            log.warning("readiness: the flag backend did not answer: %s", exc)
            return flag_backend_check(backend="postgres", answered=False, how=how, error=_short(exc))
        return flag_backend_check(backend="postgres", answered=True, how=how)

    def _smoke(self, flag: str) -> Check:
        argv = expand_argv(self._config.rollback.smoke_argv, tenant="tenant", flag=flag)
        found = self._p.programs.which(argv[0], path=self._p.path, cwd=self._config.app.root)
        missing = sorted(k for k, v in self._p.child_env.items() if not v)
        return smoke_check(argv[0], found=found, missing_env=missing)

    def _migrations(self, env: str | None, root: Path) -> Path:
        settings = self._config.schema_stage.environments.get(env) if env else None
        folder = settings.migrations_dir if settings and settings.migrations_dir else self._config.app.migrations_dir
        return root / folder


def _defines(files: Sequence[Path], function: str) -> str | None:
    """The first of ``files`` that creates ``function`` (so a deploy that adds it is not blocked for lacking it)."""
    bare = re.escape(function.rsplit(".", 1)[-1])
    pattern = re.compile(rf"create\s+(or\s+replace\s+)?function\s+(\w+\.)?\"?{bare}\"?\s*\(", re.I)
    for path in files:
        try:
            if pattern.search(path.read_text(encoding="utf-8")):
                return path.name
        except OSError:
            continue
    return None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__
