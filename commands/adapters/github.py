"""GitHub issues through the REST API (httpx): read and rewrite a release issue's body, open incident tickets.

A PATCH of an issue replaces the whole body, so callers read it, edit their own section and write it back
(``commands.release_record``). Every call sends the API version header GitHub documents and retries 429/5xx
with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from commands.adapters.http_retry import send_with_retry
from commands.errors import OutsideServiceFailed

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"


def github_client(*, token: str | None, api_url: str, timeout_s: float) -> httpx.Client:
    """An httpx client speaking GitHub's REST API version ``API_VERSION`` (authorised when given a token)."""
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION, "User-Agent": "zdm"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout_s)


class GitHubIssues:
    def __init__(
        self,
        *,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        timeout_s: float = 10.0,
        attempts: int = 4,
        base_delay_s: float = 0.5,
    ) -> None:
        self._attempts, self._base_delay_s = attempts, base_delay_s
        self._client = github_client(token=token, api_url=api_url, timeout_s=timeout_s)

    def close(self) -> None:
        self._client.close()

    def read_body(self, repo: str, number: int) -> str:
        issue = self._call("GET", f"/repos/{repo}/issues/{number}", what=f"{repo}#{number}")
        return str(issue.get("body") or "")

    def write_body(self, repo: str, number: int, body: str) -> None:
        self._call("PATCH", f"/repos/{repo}/issues/{number}", what=f"{repo}#{number}", json={"body": body})

    def open_issue(self, repo: str, *, title: str, body: str, labels: list[str]) -> str:
        """Create an issue; return its web URL. Not repeated after a 5xx or a timeout, which may come after GitHub
        created it (the caller finds it again by its marker next time)."""
        created = self._call(
            "POST",
            f"/repos/{repo}/issues",
            what=repo,
            idempotent=False,
            json={"title": title, "body": body, "labels": labels},
        )
        return str(created["html_url"])

    def find_issue(
        self, repo: str, *, label: str, marker: str, state: Literal["open", "closed", "all"] = "all"
    ) -> str | None:
        """The web URL of an issue in ``state`` (default: open or closed) with ``label`` whose body contains
        ``marker``, if any."""
        page = 1
        while page <= 10:
            issues = self._call(
                "GET",
                f"/repos/{repo}/issues",
                what=repo,
                params={"labels": label, "state": state, "per_page": 100, "page": page},
            )
            for issue in issues:
                if marker in str(issue.get("body") or ""):
                    return str(issue["html_url"])
            if len(issues) < 100:
                return None
            page += 1
        return None

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        try:
            response = send_with_retry(
                self._client, method, path, attempts=self._attempts, base_delay_s=self._base_delay_s, **kwargs
            )
        except httpx.HTTPError as exc:
            raise OutsideServiceFailed(service="GitHub", what=what, why=f"no answer ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:200]
            raise OutsideServiceFailed(service="GitHub", what=what, why=f"HTTP {response.status_code} {message}")
        return response.json()
