"""Builds the per-database work queue (``commands.queue``) for the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from commands.adapters.locks import PgLocks
from commands.adapters.queue_pg import PgWorkQueue, database_key
from commands.config import RunbookConfig
from commands.ports import AuditLog, Clock, Notifier, RoleDirectory
from commands.queue.model import Kind
from commands.queue.service import QueuePorts, QueueService


def build_queue(
    config: RunbookConfig,
    *,
    pool: ConnectionPool[Any],
    locks: PgLocks,
    clock: Clock,
    notifier: Notifier,
    roles: RoleDirectory,
    audit: AuditLog,
    urls: Mapping[Kind, Mapping[str, str]],
) -> QueueService:
    """``urls``: per kind of work, each environment's database URL (only its host, port and name are kept)."""
    databases = {(kind, env): database_key(url) for kind, by_env in urls.items() for env, url in by_env.items()}
    ports = QueuePorts(clock=clock, store=PgWorkQueue(pool, locks=locks), notifier=notifier, roles=roles, audit=audit)
    return QueueService(config=config, ports=ports, databases=databases)
