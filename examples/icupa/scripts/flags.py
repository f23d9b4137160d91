"""Demo stand-in for the app's flag CLI (`pnpm flags:enable <flag> --tenant=<slug>`), for zdm's `command` backend.

Usage: python flags.py enable|disable <flag> --tenant=<slug>   (reads DATABASE_URL)
Exit code 0 when the flag is set, 1 when the tenant cannot be updated, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("enable", "disable"))
    parser.add_argument("flag")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--actor", default="flags-cli")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into public.feature_flags (tenant_slug, flag, enabled, updated_at, updated_by)"
                " values (%s, %s, %s, now(), %s) on conflict (tenant_slug, flag) do update"
                " set enabled = excluded.enabled, updated_at = now(), updated_by = excluded.updated_by",
                (args.tenant, args.flag, args.action == "enable", args.actor),
            )
    except psycopg.Error as exc:
        print(f"could not {args.action} {args.flag} for {args.tenant}: {exc.diag.message_primary}", file=sys.stderr)
        return 1
    print(f"{args.flag} {args.action}d for {args.tenant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
