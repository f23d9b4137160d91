"""Lighthouse ingest (runbook §5): archive the report, record its scores, compare with the baseline, and open one
incident ticket per page and category whose score dropped by more than ``lighthouse.drop_points``.

Entry points: ``zdm lighthouse ingest <report.json>``, the watched folder (``lighthouse.watch_dir``, polled by the
scheduler; ingested files move into the archive, unreadable ones are renamed ``*.rejected`` and reported in the
release channel) and ``lighthouse <path>`` in the demo shell. Ingesting the same report again changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import UserError
from commands.lighthouse.ports import LighthouseRuns
from commands.lighthouse.report import (
    Drop,
    InvalidReport,
    Report,
    Ticketed,
    archive_name,
    drops,
    marker,
    parse_report,
    summary,
)
from commands.ports import IssueTracker, JobFailures, Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LighthousePorts:
    runs: LighthouseRuns
    issues: IssueTracker | None
    notifier: Notifier
    failures: JobFailures


@dataclass(frozen=True)
class Ingested:
    report: Report
    archived: Path
    baseline: Report | None
    tickets: tuple[Ticketed, ...]
    recorded: bool  # False: this page's run at this fetch time was already recorded

    def describe(self) -> str:
        """What happened, in a few lines for the CLI and the shell."""
        lines = [
            f"{self.report.page} at {self.report.fetched_at:%Y-%m-%d %H:%M} UTC: "
            + summary(self.report.scores, self.report.titles),
            f"archived: {self.archived}" + ("" if self.recorded else " (already ingested)"),
        ]
        if self.baseline is None:
            lines.append("no baseline for this page yet: nothing to compare")
        else:
            lines.append(f"baseline: the run of {self.baseline.fetched_at:%Y-%m-%d %H:%M} UTC")
        for t in self.tickets:
            verb = "opened" if t.opened else "already open"
            lines.append(f"{t.drop.title} dropped {t.drop.points:g} points: incident ticket {verb}: {t.url}")
        if self.baseline is not None and not self.tickets:
            lines.append(
                "no category dropped by more than the threshold"
                if self.recorded
                else "ingested before: its drops were handled then, so no ticket is opened again"
            )
        return "\n".join(lines)


class LighthouseService:
    def __init__(self, *, config: RunbookConfig, ports: LighthousePorts) -> None:
        self._config = config
        self._lh = config.lighthouse
        self._p = ports
        self._root = config.app.root

    @property
    def watch_dir(self) -> Path | None:
        return self._root / self._lh.watch_dir if self._lh.watch_dir else None

    def ingest(self, path: Path, *, now: datetime, move: bool = False) -> Ingested:
        """Ingest one report file; ``move`` removes it from where it was (the watched folder)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UserError(f"Cannot read `{path}`: {exc.strerror or exc}.") from exc
        ingested = self.ingest_data(data, name=path.name, now=now)
        if move and path.resolve() != ingested.archived.resolve():
            path.unlink(missing_ok=True)
        return ingested

    def ingest_data(self, data: bytes, *, name: str, now: datetime) -> Ingested:
        """Ingest one report's bytes (a file, or the body of ``POST /lighthouse`` from CI)."""
        report = parse_report(data, name=name)
        archived = self._archive(report, data)
        baseline = self._baseline(report)
        seen = self._p.runs.known(report)  # ingested before: archived again, compared, but no ticket or post again
        found = drops(report, baseline, more_than=self._lh.drop_points) if baseline and not seen else []
        tickets = tuple(self._ticket(report, baseline, drop) for drop in found) if baseline else ()
        recorded = self._p.runs.record(
            report,
            archive_path=str(archived.relative_to(self._root) if archived.is_relative_to(self._root) else archived),
            sha256=hashlib.sha256(data).hexdigest(),
            at=now,
            tickets=tickets,
        )
        return Ingested(report, archived, baseline, tickets, recorded)

    def poll_watch_dir(self, now: datetime) -> None:
        """Scheduler job: ingest every ``*.json`` in the watched folder (write reports elsewhere, then move them in)."""
        folder = self.watch_dir
        if folder is None or not folder.is_dir():
            return
        with self._p.runs.exclusive() as held:
            if held:  # else another replica is ingesting this folder right now
                self._poll(folder, now)

    def _poll(self, folder: Path, now: datetime) -> None:
        """Every report in turn: one that fails unexpectedly stays for the next poll but does not hold up the
        reports after it (the first such error is raised once all were tried, so the job reports it)."""
        unexpected: Exception | None = None
        for path in sorted(folder.glob("*.json")):
            try:
                self._poll_one(path, now)
            except Exception as exc:
                log.exception("lighthouse: %s stays in the watched folder for the next poll", path.name)
                unexpected = unexpected or exc
        if unexpected is not None:
            raise unexpected

    def _poll_one(self, path: Path, now: datetime) -> None:
        try:
            self.ingest(path, now=now, move=True)
        except InvalidReport as exc:
            rejected = path.with_name(path.name + ".rejected")
            path.rename(rejected)
            self._p.failures.report(
                what="Lighthouse ingest",
                where=str(path),
                error=str(exc),
                next_command=f"fix the file, then `zdm lighthouse ingest {rejected}`",
            )
        except UserError as exc:  # e.g. GitHub refused: the file stays and is retried; the report is folded
            log.warning("lighthouse: %s stays in the watched folder for the next poll: %s", path, exc)
            self._p.failures.report(
                what="Lighthouse ingest",
                where=str(path),
                error=str(exc),
                next_command="nothing: zdm retries every tick while the file stays in the watched folder",
            )

    def _archive(self, report: Report, data: bytes) -> Path:
        folder = self._root / self._lh.archive_dir / f"{report.fetched_at:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / archive_name(report)
        if not target.exists() or target.read_bytes() != data:
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            partial.replace(target)
        return target

    def _baseline(self, report: Report) -> Report | None:
        if self._lh.baseline == "previous":
            return self._p.runs.previous(report.page, before=report.fetched_at)
        for relative in self._lh.pinned_reports:
            path = self._root / relative
            try:
                pinned = parse_report(path.read_bytes(), name=str(relative))
            except OSError as exc:
                raise UserError(f"The pinned Lighthouse baseline `{relative}` cannot be read: {exc.strerror}.") from exc
            except InvalidReport as exc:  # the pinned file is at fault, not the report being ingested
                raise UserError(f"The pinned Lighthouse baseline `{relative}` is not a usable report: {exc}") from exc
            if pinned.page == report.page:
                return pinned
        return None

    def _ticket(self, report: Report, baseline: Report, drop: Drop) -> Ticketed:
        repo = self._lh.github_repo or self._config.release.github_repo
        if self._p.issues is None or repo is None:
            raise UserError(
                f"{drop.title} of {report.page} dropped {drop.points:g} points, but no incident ticket can be "
                "opened: set ZDM_GITHUB_TOKEN and lighthouse.github_repo (or release.github_repo)."
            )
        tag = marker(report, drop.category)
        label = self._lh.label
        existing = self._p.issues.find_issue(repo, label=label, marker=tag, state="open")
        if existing is not None:
            return Ticketed(drop, existing, opened=False)
        url = self._p.issues.open_issue(
            repo, title=ticket_title(report, drop), body=ticket_body(report, baseline, drop, tag), labels=[label]
        )
        self._p.notifier.post(self._config.channels.release, ticket_card(report, drop, url))
        return Ticketed(drop, url, opened=True)


def ticket_title(report: Report, drop: Drop) -> str:
    return f"Lighthouse: {drop.title} dropped {drop.points:g} points on {report.page}"


def ticket_body(report: Report, baseline: Report, drop: Drop, tag: str) -> str:
    return "\n".join(
        [
            f"The Lighthouse **{drop.title}** score of {report.page} fell from **{drop.baseline:g}** to "
            f"**{drop.score:g}** ({drop.points:g} points; the runbook opens an incident above 5).",
            "",
            f"- this run: {report.fetched_at:%Y-%m-%d %H:%M:%S} UTC (Lighthouse {report.version})",
            f"- baseline: {baseline.fetched_at:%Y-%m-%d %H:%M:%S} UTC",
            f"- scores now: {summary(report.scores, report.titles)}",
            f"- scores then: {summary(baseline.scores, baseline.titles)}",
            "",
            "Opened by zdm. Close this issue once the score has recovered; a later drop opens a new one.",
            tag,
        ]
    )


def ticket_card(report: Report, drop: Drop, url: str) -> Card:
    return Card(
        title=f"🚨 Lighthouse {drop.title} dropped {drop.points:g} points",
        lines=(f"{report.page}: {drop.baseline:g} → {drop.score:g}", f"Incident ticket: <{url}>"),
    )
