"""The target application database (the one being migrated), reached through a connection pool."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from commands.ports import FlipOutcome
from commands.rollback.model import SLUG
from commands.rollout.config import PlanStep
from commands.schema.history import split_statements

log = logging.getLogger(__name__)


class PgTargetDatabase:
    """``reader`` is a pool of read-only sessions, used for the cohort queries that come from zdm.toml."""

    def __init__(self, pool: ConnectionPool[Any], *, reader: ConnectionPool[Any]) -> None:
        self._pool = pool
        self._reader = reader

    def tenant_exists(self, slug: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute("select exists (select 1 from public.tenants where slug = %s)", (slug,)).fetchone()
        return bool(row and row[0])

    def find_tenants(self, pattern: str, *, limit: int) -> list[str]:
        """Tenants whose slug matches a glob (``pilot_*``); ``_`` is literal, ``*`` any run, ``?`` one char."""
        like = glob_to_like(pattern)
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select slug from public.tenants where slug like %s order by slug limit %s", (like, limit)
            ).fetchall()
        return [r[0] for r in rows]

    def resolve_cohort(self, step: PlanStep, *, now: datetime) -> list[str]:
        params: dict[str, object]
        if step.sql is not None:
            query, params = _slug_query(step.sql), {"now": now}
        elif step.all:
            query, params = "select slug from public.tenants", {}
        elif step.glob is not None:
            query, params = (
                "select slug from public.tenants where slug like %(like)s",
                {"like": glob_to_like(step.glob)},
            )
        else:
            query, params = "select slug from public.tenants where slug = any(%(slugs)s)", {"slugs": list(step.slugs)}
        with self._reader.connection() as conn:
            rows = conn.execute(f"select distinct slug::text from ({query}) as cohort(slug) order by 1", params)
            slugs = [r[0] for r in rows.fetchall() if r[0]]
        valid = [slug for slug in slugs if SLUG.match(slug)]
        if len(valid) < len(slugs):  # a query returning something else must not reach the flag table
            log.warning("cohort of step %r: ignored %d non-slug values", step.name, len(slugs) - len(valid))
        return valid

    def run_sql(self, statement: str) -> str:
        with self._pool.connection() as conn:
            cur = conn.execute(statement.encode())
            row = cur.fetchone() if cur.description else None
            status = str(row[0]) if row and row[0] is not None else cur.statusmessage or "done"
        return f"`{statement.strip()}` → {status}"

    def apply_rollback_file(self, path: Path, *, version: str, lock_timeout_ms: int, text: str | None = None) -> str:
        statements = split_statements(path.read_text(encoding="utf-8") if text is None else text)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("select set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
            tracked = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
            if tracked and tracked[0]:
                row = conn.execute(
                    "select version from supabase_migrations.schema_migrations where version = %s for update",
                    (version,),
                ).fetchone()
                if row is None:  # reverted already (another tenant's rollback, or a resumed one): never twice
                    return f"version {version} is not applied; `{path.name}` was not run again"
            for statement in statements:
                conn.execute(statement.encode())
            reverted = 0
            if tracked and tracked[0]:
                reverted = conn.execute(
                    "delete from supabase_migrations.schema_migrations where version = %s", (version,)
                ).rowcount
        note = f"; version {version} marked reverted in the migration history" if reverted else ""
        return f"applied `{path.name}` ({len(statements)} statements){note}"


def glob_to_like(pattern: str) -> str:
    """``pilot_*`` → ``pilot\\_%``: ``_`` and ``%`` are literal, ``*`` is any run, ``?`` one character."""
    like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return like.replace("*", "%").replace("?", "_")


def _slug_query(text: str) -> str:
    # zdm.toml is trusted configuration (like a migration), but it is run read-only and wrapped as a subquery;
    # a trailing semicolon would break the wrapping.
    return text.strip().rstrip(";")


class PgFlagStore:
    """Per-tenant flags in a table of the target database: ``(tenant_slug, flag, enabled, updated_at, updated_by)``."""

    all_or_nothing = True  # `enable_many` is one statement: every tenant flips or it raises (see guarded_enable)

    def __init__(self, pool: ConnectionPool[Any], *, table: str) -> None:
        schema, name = table.split(".", 1)
        self._pool = pool
        self._table = sql.Identifier(schema, name)

    def set_enabled(self, *, tenant: str, flag: str, enabled: bool, actor: str) -> str:
        query = sql.SQL(
            "insert into {t} as f (tenant_slug, flag, enabled, updated_at, updated_by)"
            " values (%s, %s, %s, now(), %s)"
            " on conflict (tenant_slug, flag) do update"
            " set enabled = excluded.enabled, updated_at = excluded.updated_at, updated_by = excluded.updated_by"
            " returning (select enabled from {t} where tenant_slug = %s and flag = %s)"
        ).format(t=self._table)
        with self._pool.connection() as conn:
            row = conn.execute(query, (tenant, flag, enabled, actor, tenant, flag)).fetchone()
        before = row[0] if row else None
        state = "on" if enabled else "off"
        if before is enabled:
            return f"`{flag}` was already {state} for `{tenant}`"
        if before is None and not enabled:  # no row means the flag was never turned on
            return f"`{flag}` was already off for `{tenant}` (never enabled)"
        return f"`{flag}` turned {state} for `{tenant}`"

    def enabled_among(self, *, flag: str, tenants: Sequence[str]) -> set[str]:
        query = sql.SQL("select tenant_slug from {t} where flag = %s and enabled and tenant_slug = any(%s)").format(
            t=self._table
        )
        with self._pool.connection() as conn:
            return {r[0] for r in conn.execute(query, (flag, list(tenants))).fetchall()}

    def enable_many(self, *, flag: str, tenants: Sequence[str], actor: str) -> FlipOutcome:
        """One statement in one transaction: every tenant of the cohort flips together or none does."""
        # Rows that exist are switched by an UPDATE through the primary key (cheaper than an upsert's speculative
        # insert and row lock). Only when it switched fewer rows than it was given (a tenant without a row, or one
        # already on) are the missing tenants looked for and inserted; an insert racing with this one is taken over by
        # ON CONFLICT. A row already on, or switched on meanwhile, is left alone and reported unchanged. Skipping that
        # look-up in the usual case (every row there, every row off) takes a third off a 10 000-tenant chunk.
        query = sql.SQL(
            "with switched as (update {t} as f set enabled = true, updated_at = now(), updated_by = %(actor)s"
            "  where f.flag = %(flag)s and f.tenant_slug = any(string_to_array(%(slugs)s, E'\\n')) and not f.enabled"
            "  returning f.tenant_slug),"
            " added as (insert into {t} as f (tenant_slug, flag, enabled, updated_at, updated_by)"
            "  select slug, %(flag)s, true, now(), %(actor)s from unnest(string_to_array(%(slugs)s, E'\\n')) as slug"
            "  where (select count(*) from switched) < %(given)s"
            "  and not exists (select from {t} as g where g.tenant_slug = slug and g.flag = %(flag)s)"
            "  on conflict (tenant_slug, flag) do update"
            "  set enabled = true, updated_at = excluded.updated_at, updated_by = excluded.updated_by"
            "  where not f.enabled returning f.tenant_slug)"
            " select tenant_slug from switched union all select tenant_slug from added"
        ).format(t=self._table)
        # a single statement on an autocommit connection is its own transaction: no BEGIN and COMMIT round trips
        with self._pool.connection() as conn:
            # one text parameter, not a text[]: binding a 10 000-element array costs more on the client than the
            # statement costs on the server
            params = {"flag": flag, "actor": actor, "slugs": "\n".join(tenants), "given": len(tenants)}
            rows = conn.execute(query, params).fetchall()
        changed = {r[0] for r in rows}
        return FlipOutcome(
            changed=tuple(t for t in tenants if t in changed),
            unchanged=tuple(t for t in tenants if t not in changed),
        )
