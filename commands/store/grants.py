"""What zdm's runtime role may do in the state schema, granted by the migrator (which runs as the owner role).

The runtime role (``ZDM_STATE_DATABASE_URL``) reads and writes zdm's tables but owns none of them, so it cannot
disable the audit log's triggers, alter or drop anything; on ``zdm.audit_log`` it may only INSERT and SELECT. The
grants are re-applied on every start (idempotent), and default privileges cover tables that later migrations create.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

APPEND_ONLY = ("audit_log",)  # INSERT and SELECT only
READ_ONLY = ("schema_version",)  # the migrator's bookkeeping: SELECT only (readiness checks)


def runtime_grants(role: str) -> list[sql.Composed]:
    """The statements, in order, for the runtime role ``role`` on schema ``zdm``."""
    who = sql.Identifier(role)
    statements = [
        "grant usage on schema zdm to {who}",
        "revoke create on schema zdm from {who}",
        "grant select, insert, update, delete on all tables in schema zdm to {who}",
        "grant usage, select on all sequences in schema zdm to {who}",
        # tables and sequences created later by the owner (the migrator) get the same grants
        "alter default privileges in schema zdm grant select, insert, update, delete on tables to {who}",
        "alter default privileges in schema zdm grant usage, select on sequences to {who}",
    ]
    composed = [sql.SQL(s).format(who=who) for s in statements]
    for table in (*APPEND_ONLY, *READ_ONLY):
        composed.append(
            sql.SQL("revoke update, delete, truncate, references, trigger on zdm.{table} from {who}").format(
                table=sql.Identifier(table), who=who
            )
        )
    for table in READ_ONLY:
        composed.append(sql.SQL("revoke insert on zdm.{table} from {who}").format(table=sql.Identifier(table), who=who))
    return composed


def grant_runtime_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Apply ``runtime_grants`` in one transaction; refuse a role that owns schema zdm (it would stay all-powerful)."""
    owns = conn.execute(
        "select exists (select 1 from pg_namespace n join pg_roles r on r.oid = n.nspowner"
        " where n.nspname = 'zdm' and r.rolname = %s)",
        (role,),
    ).fetchone()
    if owns and owns[0]:
        raise ValueError(f"the runtime role {role!r} owns schema zdm; use a separate owner role for the migrator")
    with conn.transaction():
        for statement in runtime_grants(role):
            conn.execute(statement)


def current_role(conninfo: str) -> str:
    """The role a connection string logs in as (asked from the server: the URL may leave the user out)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("select current_user").fetchone()
    assert row is not None
    return str(row[0])
