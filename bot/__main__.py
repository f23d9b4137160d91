"""zdm command line.

zdm demo      embedded Postgres + bundled demo app + local shell (no Slack needed)
zdm shell     the local shell against the configured databases
zdm serve     the bot for Slack: HTTP (/slack/events, /healthz) or Socket Mode when an app token is set
zdm check     validate settings and zdm.toml, then exit
zdm install-demo   install the bundled demo app (migrations + seed) into ZDM_TARGET_DATABASE_URL
zdm backfill-worker RUN_ID   execute one running backfill in the foreground (the scheduler normally does this)
zdm schema new "SUMMARY"     create a timestamped migration (app.migrations_dir) and its _rollback.sql pair
                             (app.rollbacks_dir, out of the Supabase CLI's reach)
zdm schema move-rollbacks    move every *_rollback.sql out of the migrations folder into app.rollbacks_dir
zdm lighthouse ingest REPORT  archive a Lighthouse JSON report, record its scores, open a ticket on a > 5-point drop
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from bot.check import offline_findings, startup_problem
from bot.cli.demo_shell import local_shell
from bot.cli.parser import build_parser
from bot.cli.real_shell import real_shell
from bot.cli.serve import serve
from bot.cli.tasks import backfill_worker, check, install_demo, schema_move_rollbacks, schema_new
from bot.lighthouse import lighthouse_ingest
from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from commands.config import load_config
from commands.errors import ConfigError

log = logging.getLogger("zdm")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(description=__doc__).parse_args(argv)
    level = logging.INFO if args.cmd in ("serve", "backfill-worker") else logging.WARNING
    configure_logging(fmt="text", level=level)
    try:
        settings = load_settings()
        configure_logging(fmt=settings.log_format, level=level)
        if args.cmd == "check":
            return check(settings, connect=args.connect)
        if args.cmd == "schema" and args.schema_cmd == "move-rollbacks":
            return schema_move_rollbacks(settings)
        if args.cmd == "schema":
            return schema_new(settings, args.summary)
        if args.cmd == "install-demo":
            return install_demo(settings)
        if args.cmd == "lighthouse":
            return lighthouse_ingest(settings, args.report)
        if args.cmd == "backfill-worker":
            return backfill_worker(settings, args.run_id)
        if args.cmd in ("shell", "demo"):
            local: dict[str, Any] = {}
            if args.cmd == "demo" or settings.embedded:  # local mode: no Slack (real databases keep real Slack)
                local |= {"slack_bot_token": None, "slack_signing_secret": None}
            if args.cmd == "demo":
                local |= {"state_database_url": None, "target_database_url": None}
            if args.user:
                local["shell_user"] = args.user
            if args.script is not None and not args.script.is_file():
                raise ConfigError(f"--script {args.script}: no such file")
            return _shell(_startable(settings.model_copy(update=local)), args)
        return serve(_startable(settings))
    except ConfigError as exc:
        print(f"zdm: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:  # a database that does not answer, or refuses zdm, at start-up
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(
            f"zdm: could not connect to a database at start-up ({first}); `zdm check --connect` says which",
            file=sys.stderr,
        )
        return 2


def _startable(settings: Settings) -> Settings:
    """Settings, once zdm.toml loads and nothing in it or in them stops start-up (else ``ConfigError``)."""
    config = load_config(settings.config_path)
    if problem := startup_problem(config, settings):
        raise ConfigError(problem)
    for finding in offline_findings(config, settings):
        if finding.problem:
            log.warning("%s (see `zdm check`)", finding.line())
    return settings


def _shell(settings: Settings, args: argparse.Namespace) -> int:
    scripted = bool(args.command or args.script)
    if args.cmd != "demo" and not settings.embedded:
        return real_shell(settings, args, scripted=scripted)
    return local_shell(settings, args, scripted=scripted)


if __name__ == "__main__":
    sys.exit(main())
