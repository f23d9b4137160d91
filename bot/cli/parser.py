"""The ``zdm`` command line's arguments: one sub-command per entry of the usage text."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser(*, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zdm", description=description, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, text in (
        ("demo", "embedded demo + shell"),
        ("shell", "local shell on the configured databases"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--as", dest="user", help="Slack user id to act as (default: ZDM_SHELL_USER)")
        p.add_argument("-c", "--command", action="append", default=[], help="run this line, then exit (repeatable)")
        p.add_argument("--script", type=Path, help="run the lines of this file, then exit")
        p.add_argument(
            "--time-scale",
            type=float,
            help="clock speed: demo default 2000 (72 h in about 2 min) interactively, 0 (frozen; use `advance`) in "
            "scripts; shell default 1",
        )
        p.add_argument("--web", action="store_true", help="a local web page instead of the text shell (127.0.0.1)")
        p.add_argument("--port", type=int, default=8765, help="port of the --web page (default 8765, else any free)")
    sub.add_parser("serve", help="serve Slack (HTTP or Socket Mode)")
    worker = sub.add_parser("backfill-worker", help="execute one running backfill run here, in the foreground")
    worker.add_argument("run_id", type=int)
    check = sub.add_parser("check", help="validate settings and zdm.toml; --connect also reaches each service")
    check.add_argument("--connect", action="store_true", help="also connect to each database and outside service")
    schema = sub.add_parser("schema", help="migration files").add_subparsers(dest="schema_cmd", required=True)
    new = schema.add_parser("new", help="create a timestamped migration and its _rollback.sql pair")
    new.add_argument("summary", help='what the migration does, e.g. "add orders.total_eur"')
    schema.add_parser(
        "move-rollbacks", help="move *_rollback.sql files out of the migrations folder (the Supabase CLI pushes them)"
    )
    sub.add_parser("install-demo", help="install the demo app into ZDM_TARGET_DATABASE_URL (compose, trials)")
    lighthouse = sub.add_parser("lighthouse", help="Lighthouse reports").add_subparsers(dest="lh_cmd", required=True)
    ingest = lighthouse.add_parser(
        "ingest", help="archive a report, record its scores, and open an incident ticket on a drop of more than 5"
    )
    ingest.add_argument("report", type=Path, help="a Lighthouse JSON report (lighthouse --output=json)")
    return parser
