"""``zdm`` sub-commands that do one thing and exit: check, schema new / move-rollbacks, install-demo and
backfill-worker."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime

from bot.bootstrap import build_container
from bot.check import Finding, connect_findings, offline_findings
from bot.embedded import install_demo_app
from bot.settings import Settings
from commands.config import load_config
from commands.errors import UserError
from commands.schema.layout import move_rollbacks
from commands.schema.scaffold import new_migration

log = logging.getLogger("zdm")


def check(settings: Settings, *, connect: bool) -> int:
    """Every finding on its own line, ok or why not; exit 2 when any is not ok."""
    config = load_config(settings.config_path)
    findings = [Finding(str(settings.config_path)), *offline_findings(config, settings)]
    if connect:
        findings += connect_findings(config, settings)
    for finding in findings:
        print(finding.line())
    return 2 if any(f.problem for f in findings) else 0


def schema_new(settings: Settings, summary: str) -> int:
    config = load_config(settings.config_path)
    try:
        forward, rollback = new_migration(
            config.migrations_path, summary, rollbacks=config.rollbacks_path, now=datetime.now(UTC)
        )
    except UserError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    print(f"created {forward}\ncreated {rollback}")
    return 0


def schema_move_rollbacks(settings: Settings) -> int:
    config = load_config(settings.config_path)
    try:
        moves = move_rollbacks(config.migrations_path, config.rollbacks_path)
    except UserError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    for source, target in moves:
        print(f"moved {source} -> {target}")
    if not moves:
        print(f"no *_rollback.sql in {config.migrations_path}: nothing to move")
    return 0


def backfill_worker(settings: Settings, run_id: int) -> int:
    """Run one backfill in this process (the bot's scheduler normally does this in a thread)."""
    container = build_container(settings)
    try:
        backfills = container.services.backfills
        if backfills.get(run_id) is None:
            print(f"zdm: there is no backfill run #{run_id}", file=sys.stderr)
            return 2
        run = backfills.execute(run_id, wait_s=settings.lock_lease_s + 2)  # a crashed worker's lock runs out first
    finally:
        container.close()
    if run is None:
        print(f"zdm: another zdm process is executing backfill #{run_id}", file=sys.stderr)
        return 3
    print(f"backfill #{run.id}: {run.status.value}" + (f" ({run.reason})" if run.reason else ""))
    return 0 if run.status.value in ("verified", "paused", "running") else 1


def install_demo(settings: Settings) -> int:
    """The demo app (app.root in zdm.toml: migrations, then seed; both idempotent) into the target database, for
    a zdm that runs on real database URLs (compose) rather than the embedded Postgres."""
    if not settings.target_database_url:
        print("zdm: set ZDM_TARGET_DATABASE_URL to the database to install the demo app into", file=sys.stderr)
        return 2
    config = load_config(settings.config_path)
    if not _database_answers(settings.target_database_url):
        print("zdm: the target database did not accept a connection within 60 s", file=sys.stderr)
        return 1
    applied = install_demo_app(settings.target_database_url, config.app.root)
    print("demo app installed: " + (", ".join(applied) if applied else "already up to date"))
    return 0


def _database_answers(url: str, *, attempts: int = 30, pause_s: float = 2.0) -> bool:
    """Retry the first connection: a database container reported healthy can still be restarting after its
    first-run initialisation."""
    import psycopg

    for attempt in range(1, attempts + 1):
        try:
            with psycopg.connect(url, connect_timeout=5):
                return True
        except psycopg.OperationalError as exc:
            log.warning("target database not reachable yet (attempt %d of %d): %s", attempt, attempts, exc)
            if attempt < attempts:
                time.sleep(pause_s)
    return False
