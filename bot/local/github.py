"""A local stand-in for GitHub's REST API, speaking its wire format: issues, and for repositories added with
``add_repo`` also branches (git refs), files (contents) and pull requests."""

from __future__ import annotations

import base64
import hashlib
import itertools
from typing import Any

from bot.local.json_stand_in import JsonStandIn, Received, Reply


class GitHubStandIn(JsonStandIn):
    """Issues of one or more repositories: get, list (labels/state/pagination), create, and PATCH of the body.
    Repositories added with ``add_repo`` also have branches (``git/ref``, ``git/refs``), files (``contents``: GET
    and PUT with the blob sha check, 409 on a stale sha) and pull requests (list by head/base/state, create)."""

    name = "github-stand-in"

    def __init__(self, *, token: str = "ghp-local-stand-in") -> None:  # noqa: S107 - the stand-in's own token
        super().__init__()
        self.token = token
        self.issues: dict[str, dict[int, dict[str, Any]]] = {}
        self.branches: dict[str, dict[str, dict[str, str]]] = {}  # repo -> branch -> path -> text
        self.heads: dict[str, dict[str, str]] = {}  # repo -> branch -> commit sha
        self.commits: dict[str, list[dict[str, str]]] = {}  # repo -> [{"branch", "path", "message", "sha"}]
        self.pulls: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1000)

    def add_repo(self, repo: str, *, branch: str = "main", files: dict[str, str] | None = None) -> None:
        with self._lock:
            if branch not in self.branches.setdefault(repo, {}):
                self.branches[repo][branch] = dict(files or {})
                self.heads.setdefault(repo, {})[branch] = _sha(f"{repo}:{branch}:initial")
                self.commits.setdefault(repo, [])
                self.pulls.setdefault(repo, [])

    def file(self, repo: str, branch: str, path: str) -> str | None:
        with self._lock:
            return self.branches.get(repo, {}).get(branch, {}).get(path)

    def add_issue(self, repo: str, *, title: str, body: str, labels: tuple[str, ...] = ()) -> dict[str, Any]:
        with self._lock:
            return self._create(repo, {"title": title, "body": body, "labels": list(labels)})

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        with self._lock:
            return dict(self.issues[repo][number])

    def answer(self, request: Received) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        parts = request.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos":
            return _not_found()
        repo = f"{parts[1]}/{parts[2]}"
        if parts[3] in ("git", "contents", "pulls"):
            if repo not in self.branches:
                return _not_found()
            return {"git": self._git, "contents": self._contents, "pulls": self._pulls}[parts[3]](
                repo, parts[4:], request
            )
        if parts[3] != "issues":
            return _not_found()
        if len(parts) == 4 and request.method == "POST":
            if not isinstance(request.body, dict) or not request.body.get("title"):
                return Reply(422, {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]})
            return Reply(201, self._create(repo, request.body))
        if len(parts) == 4 and request.method == "GET":
            return Reply(200, self._list(repo, request.query))
        if len(parts) == 5 and parts[4].isdigit():
            found = self.issues.get(repo, {}).get(int(parts[4]))
            if found is None:
                return _not_found()
            if request.method == "GET":
                return Reply(200, found)
            if request.method == "PATCH" and isinstance(request.body, dict):
                for key in ("body", "title", "state"):
                    if key in request.body:
                        found[key] = request.body[key]
                return Reply(200, found)
        return _not_found()

    def _git(self, repo: str, rest: list[str], request: Received) -> Reply:
        heads = self.heads[repo]
        if request.method == "GET" and rest[:2] == ["ref", "heads"] and len(rest) > 2:
            branch = "/".join(rest[2:])
            if branch not in heads:
                return _not_found()
            return Reply(200, {"ref": f"refs/heads/{branch}", "object": {"sha": heads[branch], "type": "commit"}})
        if request.method == "POST" and rest == ["refs"] and isinstance(request.body, dict):
            ref, sha = str(request.body.get("ref", "")), str(request.body.get("sha", ""))
            branch = ref.removeprefix("refs/heads/")
            if branch in heads:
                return Reply(422, {"message": "Reference already exists"})
            source = next((name for name, head in heads.items() if head == sha), None)
            if not ref.startswith("refs/heads/") or source is None:
                return Reply(422, {"message": "Object does not exist"})
            heads[branch] = sha
            self.branches[repo][branch] = dict(self.branches[repo][source])
            return Reply(201, {"ref": ref, "object": {"sha": sha, "type": "commit"}})
        return _not_found()

    def _contents(self, repo: str, rest: list[str], request: Received) -> Reply:
        path = "/".join(rest)
        if request.method == "GET":
            branch = (request.query.get("ref") or ["main"])[0]
            text = self.branches[repo].get(branch, {}).get(path)
            if text is None:
                return _not_found()
            encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii")  # GitHub wraps at 60 columns
            return Reply(200, {"type": "file", "path": path, "sha": _blob_sha(text), "encoding": "base64",
                               "content": encoded})  # fmt: skip
        if request.method != "PUT" or not isinstance(request.body, dict):
            return _not_found()
        branch = str(request.body.get("branch") or "main")
        files = self.branches[repo].get(branch)
        if files is None or not request.body.get("message") or "content" not in request.body:
            return Reply(422, {"message": "Invalid request."})
        current = files.get(path)
        if current is not None and request.body.get("sha") != _blob_sha(current):
            return Reply(409, {"message": f"{path} does not match {request.body.get('sha')}"})
        text = base64.b64decode(str(request.body["content"])).decode("utf-8")
        files[path] = text
        commit = _sha(f"{repo}:{branch}:{len(self.commits[repo])}:{text}")
        self.heads[repo][branch] = commit
        self.commits[repo].append({"branch": branch, "path": path, "message": str(request.body["message"]),
                                   "sha": commit})  # fmt: skip
        return Reply(200 if current is not None else 201, {"content": {"path": path, "sha": _blob_sha(text)},
                                                           "commit": {"sha": commit}})  # fmt: skip

    def _pulls(self, repo: str, rest: list[str], request: Received) -> Reply:
        pulls = self.pulls[repo]
        if rest or request.method not in ("GET", "POST"):
            return _not_found()
        if request.method == "GET":
            head = (request.query.get("head") or [""])[0].split(":", 1)[-1]
            base = (request.query.get("base") or [""])[0]
            state = (request.query.get("state") or ["open"])[0]
            found = [p for p in pulls if (not head or p["head"]["ref"] == head)
                     and (not base or p["base"]["ref"] == base) and state in ("all", p["state"])]  # fmt: skip
            return Reply(200, found)
        body = request.body if isinstance(request.body, dict) else {}
        head, base = str(body.get("head", "")), str(body.get("base", ""))
        if not body.get("title") or head not in self.heads[repo] or base not in self.heads[repo]:
            return Reply(422, {"message": "Validation Failed"})
        if any(p["head"]["ref"] == head and p["base"]["ref"] == base and p["state"] == "open" for p in pulls):
            return Reply(422, {"message": f"A pull request already exists for {head}."})
        number = len(self.issues.setdefault(repo, {})) + len(pulls) + 1
        pull = {"number": number, "state": "open", "title": body["title"], "body": body.get("body") or "",
                "head": {"ref": head}, "base": {"ref": base},
                "html_url": f"https://github.com/{repo}/pull/{number}"}  # fmt: skip
        pulls.append(pull)
        return Reply(201, pull)

    def _create(self, repo: str, body: dict[str, Any]) -> dict[str, Any]:
        issues = self.issues.setdefault(repo, {})
        number = len(issues) + 1
        issue = {
            "id": next(self._ids),
            "number": number,
            "title": body["title"],
            "body": body.get("body") or "",
            "state": "open",
            "labels": [{"name": name} for name in body.get("labels") or []],
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "url": f"{self.url}/repos/{repo}/issues/{number}",
        }
        issues[number] = issue
        return issue

    def _list(self, repo: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        wanted = {name for value in query.get("labels", []) for name in value.split(",") if name}
        state = (query.get("state") or ["open"])[0]
        per_page, page = int((query.get("per_page") or ["30"])[0]), int((query.get("page") or ["1"])[0])
        found = [
            issue
            for issue in self.issues.get(repo, {}).values()
            if wanted <= {label["name"] for label in issue["labels"]} and state in ("all", issue["state"])
        ]
        found.sort(key=lambda issue: -int(issue["number"]))
        return found[(page - 1) * per_page : page * per_page]


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _blob_sha(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _not_found() -> Reply:
    return Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
