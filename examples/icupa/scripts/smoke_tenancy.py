"""Demo stand-in for `pnpm --filter web test:e2e -- --grep tenancy`: checks a tenant's read path answers.

Usage: python smoke_tenancy.py --tenant <slug>   (reads DATABASE_URL)
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("FAIL DATABASE_URL is not set")
        return 2
    failures = 0
    with psycopg.connect(url) as conn:
        checks = [
            ("tenant row exists", "select count(*) from public.tenants where slug = %s", 1),
            ("tenant_directory answers", "select count(*) from public.tenant_directory where slug = %s", 1),
        ]
        for name, query, expected in checks:
            row = conn.execute(query, (args.tenant,)).fetchone()
            got = row[0] if row else None
            ok = got == expected
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} tenancy: {name} ({args.tenant}: {got})")
    print(f"tenancy smoke: {2 - failures} ok, {failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
