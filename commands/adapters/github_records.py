"""Outbox destination for a GitHub repository: each entry is one commit on a zdm branch (contents API), and one
open pull request into the base branch collects them.

Idempotent by the entry's marker: the file on the branch is read first and a commit is made only when the marker
is not there yet, so a delivery repeated after a crash (or after GitHub answered late) adds nothing. A concurrent
commit to the same file makes GitHub answer 409 (stale blob sha); the outbox retries later.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx

from commands.adapters.github import DEFAULT_API_URL, github_client
from commands.adapters.http_retry import send_with_retry
from commands.errors import OutsideServiceFailed
from commands.outbox.model import OutboxEntry, apply_entry


class GitHubPullRequestDestination:
    def __init__(
        self,
        *,
        token: str | None,
        repo: str,
        branch: str,
        base: str,
        title: str,
        api_url: str = DEFAULT_API_URL,
        timeout_s: float = 10.0,
        attempts: int = 2,  # the outbox retries with backoff; a delivery attempt should not wait long
    ) -> None:
        self._repo, self._branch, self._base, self._title = repo, branch, base, title
        self._attempts = attempts
        self._client = github_client(token=token, api_url=api_url, timeout_s=timeout_s)

    def close(self) -> None:
        self._client.close()

    def describe(self) -> str:
        return f"`{self._repo}` (branch `{self._branch}`, one pull request into `{self._base}`)"

    def deliver(self, entry: OutboxEntry) -> str:
        self._ensure_branch()
        before, sha = self._read(entry.path)
        after = apply_entry(before, entry)
        if after != before:
            body: dict[str, Any] = {
                "message": f"zdm: {entry.title}"[:200],
                "content": base64.b64encode(after.encode("utf-8")).decode("ascii"),
                "branch": self._branch,
            }
            if sha:
                body["sha"] = sha
            self._call("PUT", self._contents(entry.path), json=body)
        return f"in PR #{self._ensure_pull_request()}"

    def _ensure_branch(self) -> None:
        if self._call("GET", f"/repos/{self._repo}/git/ref/heads/{quote(self._branch)}", missing_ok=True):
            return
        base = self._call("GET", f"/repos/{self._repo}/git/ref/heads/{quote(self._base)}")
        ref = {"ref": f"refs/heads/{self._branch}", "sha": base["object"]["sha"]}
        self._call("POST", f"/repos/{self._repo}/git/refs", json=ref, exists_ok=True)

    def _read(self, path: str) -> tuple[str, str | None]:
        found = self._call("GET", self._contents(path), params={"ref": self._branch}, missing_ok=True)
        if not found:
            return "", None
        return base64.b64decode(found["content"]).decode("utf-8"), str(found["sha"])

    def _ensure_pull_request(self) -> int:
        owner = self._repo.split("/", 1)[0]
        query = {"head": f"{owner}:{self._branch}", "base": self._base, "state": "open"}
        open_ones = self._call("GET", f"/repos/{self._repo}/pulls", params=query)
        if open_ones:
            return int(open_ones[0]["number"])
        body = (
            "zdm delivers what it recorded (rollback-log entries, release notes) as commits on this branch. "
            "Every entry is also in zdm's state database: `/zdm log`."
        )
        created = self._call(
            "POST",
            f"/repos/{self._repo}/pulls",
            json={"title": self._title, "head": self._branch, "base": self._base, "body": body},
        )
        return int(created["number"])

    def _contents(self, path: str) -> str:
        return f"/repos/{self._repo}/contents/{quote(path)}"

    def _call(self, method: str, path: str, *, missing_ok: bool = False, exists_ok: bool = False, **kwargs: Any) -> Any:
        what = f"{self._repo} {path.split('/', 4)[-1]}"
        try:
            response = send_with_retry(
                self._client, method, path, attempts=self._attempts, idempotent=method in ("GET", "PUT"), **kwargs
            )
        except httpx.HTTPError as exc:
            raise OutsideServiceFailed(service="GitHub", what=what, why=f"no answer ({type(exc).__name__})") from exc
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 422 and exists_ok:
            return {}
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:200]
            raise OutsideServiceFailed(service="GitHub", what=what, why=f"HTTP {response.status_code} {message}")
        return response.json()
