"""``zdm check [--connect]``: what can be checked before zdm runs, each item ok or one sentence saying why not.

Without ``--connect`` nothing leaves the machine: settings and zdm.toml (the loader already refuses bad time zones,
windows and references between sections), folders that must exist, programs on PATH, database URLs that parse.
With ``--connect`` zdm also connects to each database and outside service (short timeouts, read-only calls).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bot.settings import Settings
from commands.config import RunbookConfig

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    item: str
    problem: str | None = None  # None: ok
    note: str = ""

    def line(self) -> str:
        return f"{self.item}: {self.problem or 'ok'}" + (f" ({self.note})" if self.note and not self.problem else "")


def offline_findings(config: RunbookConfig, settings: Settings) -> list[Finding]:
    """Folders, programs and URLs, checked without side effects."""
    found = [_folder("app.root", config.app.root)]
    if config.app.root.is_dir():
        found.append(_folder("app.migrations_dir", config.migrations_path))
        for relative in config.lighthouse.pinned_reports if config.lighthouse.baseline == "pinned" else ():
            path = config.app.root / relative
            found.append(Finding(f"lighthouse.pinned_reports {relative}", None if path.is_file() else "no such file"))
    for item, argv in _programs(config):
        found.append(Finding(item, _missing_program(argv[0], root=config.app.root)))
    for item, url in _database_urls(config, settings):
        found.append(Finding(item, url_problem(url)) if url else Finding(item, note="unset: the embedded Postgres"))
    return found


def startup_problem(config: RunbookConfig, settings: Settings) -> str | None:
    """The first reason ``zdm serve`` / ``zdm shell`` cannot start (a missing app folder, a malformed database
    URL), as one sentence; a missing program is only a warning there (``zdm check`` lists it)."""
    for finding in offline_findings(config, settings):
        if finding.problem and finding.item.startswith(("app.root", "state database", "target database", "database $")):
            return f"{finding.item}: {finding.problem}"
    return None


def connect_findings(config: RunbookConfig, settings: Settings) -> list[Finding]:
    """Each database and outside service, reached with a short timeout and a read-only call."""
    found = [Finding(item, _connect_problem(url)) for item, url in _database_urls(config, settings) if url]
    if settings.slack_bot_token is not None:
        base = (settings.slack_api_url or "https://slack.com/api/").rstrip("/")
        found.append(Finding("Slack auth.test", _slack_problem(base, settings.slack_bot_token.get_secret_value())))
    if settings.github_token is not None:
        base = (settings.github_api_url or config.release.github_api_url).rstrip("/")
        repo, issue = config.release.github_repo, config.release.issue
        path = f"/repos/{repo}/issues/{issue}" if repo and issue else f"/repos/{repo}/issues" if repo else "/user"
        headers = {"Authorization": f"Bearer {settings.github_token.get_secret_value()}"}
        found.append(Finding(f"GitHub {path}", _http_problem("GET", base + path, headers=headers)))
    if settings.pagerduty_routing_key is not None:
        url = settings.pagerduty_events_url or config.alerts.pagerduty.events_url
        parts = urlsplit(url)  # the Events API has no read-only call: reaching the server is what can be checked
        found.append(Finding("PagerDuty", _http_problem("GET", f"{parts.scheme}://{parts.netloc}/", any_status=True)))
    if config.kpi.source == "prometheus" and config.kpi.prometheus is not None:
        url = config.kpi.prometheus.url.rstrip("/") + "/api/v1/status/buildinfo"
        found.append(Finding("Prometheus (kpi.prometheus.url)", _http_problem("GET", url)))
    return found


def url_problem(url: str) -> str | None:
    try:
        conninfo_to_dict(url)
    except psycopg.Error as exc:
        return f"not a valid database URL ({_first_line(exc)})"
    return None


def _folder(item: str, path: Path) -> Finding:
    return Finding(item, None if path.is_dir() else f"the folder {path} does not exist")


def _programs(config: RunbookConfig) -> Iterator[tuple[str, tuple[str, ...]]]:
    yield "program schema.lint.squawk_argv", config.schema_stage.lint.squawk_argv
    yield "program rollback.smoke_argv", config.rollback.smoke_argv
    if config.flag.backend == "command":
        yield "program flag.disable_argv", config.flag.disable_argv
        if config.flag.enable_argv:
            yield "program flag.enable_argv", config.flag.enable_argv
    for name, env in config.schema_stage.environments.items():
        if env.mode == "supabase" and env.push_argv:
            yield f"program schema.environments.{name}.push_argv", env.push_argv


def _missing_program(program: str, *, root: Path) -> str | None:
    if program in ("{python}", sys.executable):
        return None
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else root / program
        return None if os.access(path, os.X_OK) and path.is_file() else f"`{program}` is not an executable file"
    beside = Path(sys.executable).parent / program  # zdm runs squawk from its own venv first (see SquawkLinter)
    return None if beside.is_file() or shutil.which(program) else f"`{program}` is not on PATH"


def _database_urls(config: RunbookConfig, settings: Settings) -> Iterator[tuple[str, str | None]]:
    yield "state database (ZDM_STATE_DATABASE_URL)", settings.state_database_url
    yield "target database (ZDM_TARGET_DATABASE_URL)", settings.target_database_url
    named = {e.database_url_env for e in config.backfill.environments.values()}
    named |= {e.database_url_env for e in config.schema_stage.environments.values()}
    for variable in sorted(n for n in named if n):
        yield f"database ${variable}", settings.named_variable(variable)


def _connect_problem(url: str) -> str | None:
    if problem := url_problem(url):
        return problem
    try:
        with psycopg.connect(url, connect_timeout=int(TIMEOUT_S), autocommit=True) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return f"could not connect: {_first_line(exc)}"
    return None


def _slack_problem(base: str, token: str) -> str | None:
    try:
        answer = httpx.post(f"{base}/auth.test", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S)
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"could not reach Slack at {base}: {_first_line(exc) or type(exc).__name__}"
    if not isinstance(body, dict) or not body.get("ok"):
        error = body.get("error") if isinstance(body, dict) else None
        return f"Slack refused the bot token ({error or f'HTTP {answer.status_code}'})"
    return None


def _http_problem(
    method: str, url: str, *, headers: dict[str, str] | None = None, any_status: bool = False
) -> str | None:
    try:
        answer = httpx.request(method, url, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"could not reach {url}: {_first_line(exc) or type(exc).__name__}"
    if any_status or answer.status_code < 400:
        return None
    return f"{url} answered HTTP {answer.status_code}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
