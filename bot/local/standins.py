"""Local stand-ins for outside HTTP APIs, speaking their wire formats: GitHub issues, contents, refs and pull
requests (and, for alerting, PagerDuty's Events API). ``zdm demo`` starts them when no real token is set; the
tests use them as the network edge and read back every request they received.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.local import STOP_POLL_S


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class JsonStandIn:
    """A threaded local HTTP server answering JSON; subclasses implement ``answer``."""

    name = "stand-in"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._queued: list[Reply] = []  # forced replies (e.g. a 429) served before normal handling
        self.unavailable: int | None = None  # an outage: every request answers this status until reset to None
        self.before_reply: Callable[[Received], None] | None = None  # tests: hold a request at the edge
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name=self.name, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> JsonStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._queued.append(Reply(status, body, headers or {}))

    def requests(self, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if method is None or r.method == method]

    def handle(self, request: Received) -> Reply:
        if self.before_reply is not None:
            self.before_reply(request)
        with self._lock:
            self.received.append(request)
            if self.unavailable is not None:
                return Reply(self.unavailable, {"message": "Service Unavailable"})
            if self._queued:
                return self._queued.pop(0)
            return self.answer(request)

    def answer(self, request: Received) -> Reply:
        raise NotImplementedError


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


class PagerDutyStandIn(JsonStandIn):
    """PagerDuty's Events API v2 (``POST /v2/enqueue``): validates events as PagerDuty does and keeps alerts by
    ``dedup_key`` (a trigger on an open alert is merged; a trigger after a resolve opens a new one)."""

    name = "pagerduty-stand-in"
    ROUTING_KEY = "R0UT1NGKEYLOCALSTANDIN0000000000"  # 32 characters, like an integration key

    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, dict[str, Any]] = {}  # dedup_key -> {"status", "summary", "triggers", "opened"}
        self.subscribers: list[Callable[[dict[str, Any]], None]] = []

    @property
    def events_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def answer(self, request: Received) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Reply(404, {"status": "not found"})
        event = request.body if isinstance(request.body, dict) else {}
        errors = _pagerduty_errors(event)
        if errors:
            return Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        key = str(event.get("dedup_key") or f"auto-{len(self.alerts) + 1}")
        alert = self.alerts.get(key)
        if event["event_action"] == "trigger":
            if alert is None or alert["status"] == "resolved":
                summary = event["payload"]["summary"]
                alert = {
                    "status": "triggered",
                    "summary": summary,
                    "triggers": 0,
                    "opened": 1 + (alert or {}).get("opened", 0),
                }
                self.alerts[key] = alert
            alert["triggers"] += 1
        elif alert is not None:
            alert["status"] = "resolved" if event["event_action"] == "resolve" else "acknowledged"
        for callback in list(self.subscribers):
            callback(event)
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})


def _pagerduty_errors(event: dict[str, Any]) -> list[str]:
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("'routing_key' must be a 32 character integration key")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' must be trigger, acknowledge or resolve")
    if action != "trigger" and not event.get("dedup_key"):
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' must be at most 255 characters")
    if action == "trigger":
        found = event.get("payload")
        payload: dict[str, Any] = found if isinstance(found, dict) else {}
        if not payload.get("summary") or len(str(payload["summary"])) > 1024:
            errors.append("'payload.summary' is required (at most 1024 characters)")
        if not payload.get("source"):
            errors.append("'payload.source' is required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' must be critical, error, warning or info")
    return errors


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _blob_sha(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _not_found() -> Reply:
    return Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})


def _handler(stand_in: JsonStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            try:
                form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                body = parse_qs(raw) if form else json.loads(raw) if raw else None
            except json.JSONDecodeError:
                self._send(Reply(400, {"message": "Problems parsing JSON"}))
                return
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(stand_in.handle(Received(self.command, split.path, parse_qs(split.query), headers, body)))

        do_GET = do_POST = do_PATCH = do_PUT = _serve

        def _send(self, reply: Reply) -> None:
            data = json.dumps(reply.body).encode("utf-8")
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
