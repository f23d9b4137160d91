"""The embedded default: one pgserver Postgres under the data folder holding the state and demo databases."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from commands.adapters.migration_history_pg import apply_pending
from commands.errors import ConfigError
from commands.schema.history import list_migrations, split_statements
from commands.schema.layout import layout_findings
from commands.schema.lint import additive_findings
from commands.schema.prelude import bundled_prelude

log = logging.getLogger(__name__)
STATE_DB = "zdm_state"
DEMO_DB = "icupa"


@dataclass
class EmbeddedPostgres:
    """A running pgserver instance; ``stop()`` releases this process's handle on it."""

    server: Any

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        self.server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded Postgres in %s", pgdata)
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir; its fallback to /tmp is fine for us
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from pgserver import postgres_server  # imported lazily: production never needs it loaded
        except ImportError as exc:
            raise ConfigError(
                "ZDM_STATE_DATABASE_URL and ZDM_TARGET_DATABASE_URL are not both set, and the embedded Postgres "
                "is not installed (pip install 'zdm[embedded]')"
            ) from exc

        return EmbeddedPostgres(postgres_server.get_server(pgdata, cleanup_mode="stop"))


def ensure_database(admin_url: str, name: str, *, template: str | None = None) -> bool:
    """Create database ``name`` if absent; return True when it was created now."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return False
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template))
        conn.execute(query)
        return True


def install_demo_app(target_url: str, app_root: Path) -> list[str]:
    """Apply the Supabase platform prelude, then the demo app's migrations and its seed (all idempotent); return
    versions applied now. The migrations must pass zdm's own lint, as `/zdm schema plan` would require."""
    migrations = app_root / "supabase" / "migrations"
    blocking = [f for m in list_migrations(migrations) for f in additive_findings(m) if f.blocking]
    blocking += layout_findings(migrations, rollbacks_dir=Path("supabase/rollbacks"))
    if blocking:
        first = blocking[0]
        raise ConfigError(f"the demo app's `{first.where}` does not pass zdm's lint: {first.message}")
    with psycopg.connect(target_url, autocommit=True) as conn, conn.transaction():
        for statement in split_statements(bundled_prelude()):
            conn.execute(statement.encode())
    applied = apply_pending(target_url, migrations)
    seed = app_root / "supabase" / "seed.sql"
    if seed.exists():
        with psycopg.connect(target_url, autocommit=True) as conn, conn.transaction():
            for statement in split_statements(seed.read_text(encoding="utf-8")):
                conn.execute(statement.encode())
    return applied
