"""The repository port over git: a bare cache clone, fetched before every plan and deploy, and one read-only
snapshot folder per commit (``<cache>/snapshots/<sha>``), so a commit's files never change under a deploy.

Why the git CLI (run as an argv list, never through a shell): it is in the image already, it is the reference
implementation of every transport and auth scheme a forge offers (smart HTTP, SSH, protocol v2, shallow and
partial fetches), and it needs no native build. The pure-Python alternative (dulwich) lags on protocol features;
pygit2 needs libgit2 at the matching version. The token never appears in argv (``ps`` shows argv): it is handed to
git as an ``http.extraHeader`` through ``GIT_CONFIG_*`` environment variables.
"""

from __future__ import annotations

import base64
import fcntl
import io
import logging
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from commands.errors import RepositoryUnavailable
from commands.repository.ports import Snapshot

log = logging.getLogger(__name__)
SAFE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")
SHA = re.compile(r"^[0-9a-f]{40}$")
TIMEOUT_S = 120.0


class GitRepository:
    def __init__(self, *, url: str, cache_dir: Path, token: str | None = None, git: str = "git") -> None:
        self._url = url
        self._cache = cache_dir
        self._token = token
        self._git = git
        self._lock = threading.Lock()  # one fetch at a time in this process; a lock file across processes

    def describe(self) -> str:
        return f"`{self._url}`"

    def checkout(self, ref: str) -> Snapshot:
        if not SAFE_REF.match(ref) or ".." in ref:
            raise RepositoryUnavailable(url=self._url, why=f"`{ref[:60]}` is not a branch or tag name")
        with self._exclusive():
            self._fetch()
            commit = self._resolve(ref)
            return Snapshot(root=self._materialise(commit), commit=commit)

    def at(self, commit: str) -> Snapshot:
        if not SHA.match(commit):
            raise RepositoryUnavailable(url=self._url, why=f"`{commit[:60]}` is not a commit id")
        with self._exclusive():
            if not self._has(commit):
                self._fetch()
                if not self._has(commit):
                    raise RepositoryUnavailable(url=self._url, why=f"commit `{commit[:12]}` is not in it any more")
            return Snapshot(root=self._materialise(commit), commit=commit)

    @property
    def _bare(self) -> Path:
        return self._cache / "repo.git"

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._cache.mkdir(parents=True, exist_ok=True)
        with self._lock, (self._cache / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _fetch(self) -> None:
        if not (self._bare / "HEAD").is_file():
            self._run("init", "--bare", "--quiet", str(self._bare), bare=False)
        self._run(
            "fetch", "--quiet", "--force", "--prune", "--no-tags", self._url,
            "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
        )  # fmt: skip

    def _resolve(self, ref: str) -> str:
        for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}"):
            found = self._run("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if found:
                return found.decode().strip()
        raise RepositoryUnavailable(url=self._url, why=f"it has no branch or tag `{ref}`")

    def _has(self, commit: str) -> bool:
        return bool(self._run("cat-file", "-e", f"{commit}^{{commit}}", check=False, quiet_ok=True) is not None)

    def _materialise(self, commit: str) -> Path:
        target = self._cache / "snapshots" / commit
        if target.is_dir():
            return target
        archive = self._run("archive", "--format=tar", commit) or b""
        partial = target.with_name(f".{commit}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")  # no absolute paths, links out of the folder or devices
        partial.rename(target)
        return target

    def _run(self, *args: str, bare: bool = True, check: bool = True, quiet_ok: bool = False) -> bytes | None:
        argv = [self._git, *(["--git-dir", str(self._bare)] if bare else []), *args]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, env=self._env(), check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RepositoryUnavailable(url=self._url, why=f"`git {args[0]}` failed ({type(exc).__name__})") from exc
        if done.returncode == 0:
            return done.stdout
        if not check or quiet_ok:
            return None
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise RepositoryUnavailable(url=self._url, why=f"`git {args[0]}`: {(why or ['failed'])[-1][:200]}")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
        if self._token:
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        return env
