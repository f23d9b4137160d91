"""What the schema stage needs from the outside: each environment's database and the deploy records (shared
ports are in ``commands.ports``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from commands.schema.history import MigrationFile
from commands.schema.model import BootstrapResult, Deploy


class SchemaTarget(Protocol):
    """One deploy environment's database."""

    def applied(self) -> dict[str, str]:
        """version → name from the Supabase CLI's history table (empty when it does not exist yet)."""
        ...

    def apply(self, files: Sequence[MigrationFile], *, lock_timeout_ms: int) -> list[str]: ...

    def bootstrap(
        self,
        files: Sequence[MigrationFile],
        *,
        seed: Path | None,
        lock_timeout_ms: int,
        prelude: str | None = None,
        rollbacks: Mapping[str, Path] | None = None,
    ) -> BootstrapResult:
        """Apply ``prelude`` and every file from zero in a clean database (a scratch one dropped afterwards, or
        the emptied shadow database) and report the first failure; each version in ``rollbacks`` round-trips
        (the migration, its rollback, the migration again)."""
        ...


class SchemaDeploys(Protocol):
    def create(self, deploy: Deploy) -> Deploy: ...

    def save(self, deploy: Deploy) -> None: ...

    def get(self, deploy_id: int) -> Deploy | None: ...

    def active(self, env: str) -> Deploy | None: ...

    def applying(self) -> list[Deploy]: ...

    def recent(self, *, limit: int, env: str | None = None) -> list[Deploy]: ...

    def exclusive(self, env: str, *, wait_s: float = 0) -> AbstractContextManager[bool]: ...
