"""Schema deploy records in the bot's state database (``zdm.schema_deploys``: a jsonb document per deploy)."""

from __future__ import annotations

import zlib
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter

from commands.adapters.locks import PgLocks
from commands.errors import UserError
from commands.schema.model import Deploy

DEPLOY_LOCK_CLASS = 0x7A6A  # per environment name hash: one deploy applies to an environment at a time
_DOC = TypeAdapter(Deploy)


class PgSchemaDeploys:
    def __init__(self, pool: ConnectionPool[Any], *, locks: PgLocks) -> None:
        self._pool = pool
        self._locks = locks

    def create(self, deploy: Deploy) -> Deploy:
        """Insert (``id`` ignored); refuse when the environment already has a deploy awaiting or applying."""
        try:
            with self._pool.connection() as conn:
                row = conn.execute(
                    "insert into zdm.schema_deploys (env, status, requested_at, doc) values (%s, %s, %s, %s)"
                    " returning id",
                    (deploy.env, deploy.status.value, deploy.requested_at, Jsonb(_dump(deploy))),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            active = self.active(deploy.env)
            which = f" (#{active.id})" if active else ""
            raise UserError(
                f"`{deploy.env}` already has a schema deploy awaiting approval or applying{which}; finish or cancel "
                "it first (`/zdm schema status`)."
            ) from None
        assert row is not None
        return replace(deploy, id=int(row[0]))

    def save(self, deploy: Deploy) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "update zdm.schema_deploys set status = %s, doc = %s where id = %s",
                (deploy.status.value, Jsonb(_dump(deploy)), deploy.id),
            )

    def get(self, deploy_id: int) -> Deploy | None:
        with self._pool.connection() as conn:
            row = conn.execute("select id, doc from zdm.schema_deploys where id = %s", (deploy_id,)).fetchone()
        return _load(row) if row else None

    def active(self, env: str) -> Deploy | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "select id, doc from zdm.schema_deploys where env = %s and status in ('awaiting', 'applying')",
                (env,),
            ).fetchone()
        return _load(row) if row else None

    def applying(self) -> list[Deploy]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select id, doc from zdm.schema_deploys where status = 'applying' order by id"
            ).fetchall()
        return [_load(r) for r in rows]

    def recent(self, *, limit: int, env: str | None = None) -> list[Deploy]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "select id, doc from zdm.schema_deploys where %s::text is null or env = %s order by id desc limit %s",
                (env, env, limit),
            ).fetchall()
        return [_load(r) for r in rows]

    def exclusive(self, env: str, *, wait_s: float = 0) -> AbstractContextManager[bool]:
        return self._locks.hold((DEPLOY_LOCK_CLASS, _env_key(env)), wait_s=wait_s)


def _dump(deploy: Deploy) -> dict[str, Any]:
    doc: dict[str, Any] = _DOC.dump_python(deploy, mode="json")
    return doc


def _load(row: tuple[Any, ...]) -> Deploy:
    return replace(_DOC.validate_python(row[1]), id=int(row[0]))


def _env_key(env: str) -> int:
    return zlib.crc32(env.encode()) & 0x7FFFFFFF
