"""What zdm's runtime role may do in the state schema, granted by the migrator (which runs as the owner role).

The runtime role (``ZDM_STATE_DATABASE_URL``) reads and writes zdm's tables but owns none of them, so it cannot
disable the audit log's triggers, alter or drop anything; on ``zdm.audit_log`` it may only INSERT and SELECT. The
grants are re-applied on every start (idempotent), and default privileges cover tables that later migrations create.
``commands.adapters.store_pg`` runs them, quoting the role and table names as identifiers.
"""

from __future__ import annotations

APPEND_ONLY = ("audit_log",)  # INSERT and SELECT only
READ_ONLY = ("schema_version",)  # the migrator's bookkeeping: SELECT only (readiness checks)

SCHEMA_GRANTS = (  # ``{who}``: the runtime role
    "grant usage on schema zdm to {who}",
    "revoke create on schema zdm from {who}",
    "grant select, insert, update, delete on all tables in schema zdm to {who}",
    "grant usage, select on all sequences in schema zdm to {who}",
    # tables and sequences created later by the owner (the migrator) get the same grants
    "alter default privileges in schema zdm grant select, insert, update, delete on tables to {who}",
    "alter default privileges in schema zdm grant usage, select on sequences to {who}",
)
NO_CHANGES = "revoke update, delete, truncate, references, trigger on zdm.{table} from {who}"
NO_INSERTS = "revoke insert on zdm.{table} from {who}"


def table_revokes() -> list[tuple[str, str]]:
    """(statement template, table) pairs that follow ``SCHEMA_GRANTS``, in order."""
    return [(NO_CHANGES, table) for table in (*APPEND_ONLY, *READ_ONLY)] + [(NO_INSERTS, t) for t in READ_ONLY]
