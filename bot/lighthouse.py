"""Lighthouse entry points outside Slack: ``zdm lighthouse ingest REPORT`` and the shell's ``lighthouse <path>``.
Both run ``LighthouseService.ingest``, as the watched-folder job does."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.bootstrap import Container, build_container
from bot.settings import Settings
from commands.errors import UserError
from commands.ports import Clock


def lighthouse_ingest(settings: Settings, report: Path) -> int:
    """``zdm lighthouse ingest REPORT``: the same ingest as the watched folder and the shell's ``lighthouse``."""
    container = build_container(settings)
    try:
        if container.local_mode:
            print(
                "zdm: no Slack tokens set: the release-channel message stays local"
                + ("" if settings.github_token else ", and tickets go to a local GitHub stand-in"),
                file=sys.stderr,
            )
        result = container.services.lighthouse.ingest(report, now=container.services.clock.now())
    except UserError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    finally:
        container.close()
    print(result.describe())
    return 0


def shell_lighthouse(container: Container, clock: Clock, path: str) -> str:
    """The shell's ``lighthouse <path>``: a path relative to the current folder, else to app.root."""
    report = Path(path).expanduser()
    if not report.is_absolute() and not report.exists():
        report = container.services.config.app.root / report
    try:
        result = container.services.lighthouse.ingest(report, now=clock.now())
    except UserError as exc:
        return str(exc)
    lines = [result.describe()]
    github = container.github
    for ticket in result.tickets:
        repo, _, number = ticket.url.removeprefix("https://github.com/").partition("/issues/")
        if github is not None and ticket.opened and number.isdigit():
            issue = github.issue(repo, int(number))
            labels = ", ".join(label["name"] for label in issue["labels"])
            lines.append(f"── GitHub {repo}#{number} [{labels}] ──\n{issue['title']}\n{issue['body']}")
    return "\n".join(lines)
