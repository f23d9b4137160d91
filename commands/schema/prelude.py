"""The Supabase platform prelude: roles ``anon``, ``authenticated``, ``service_role``; schemas ``auth``,
``storage``, ``extensions``; ``auth.uid()``, ``auth.role()``, ``auth.jwt()``.

A Supabase project has these before its first migration, plain Postgres does not, so the clean bootstrap applies
the prelude before the migrations (``[schema] platform_prelude``). zdm ships one; ``[schema] prelude_file``
(relative to ``app.root``) replaces it with the team's own.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from commands.errors import UserError
from commands.schema.config import SchemaConfig


class PreludeMissing(UserError):
    """``[schema] prelude_file`` names a file that cannot be read."""


def bundled_prelude() -> str:
    """zdm's own Supabase platform prelude (package data)."""
    return resources.files("commands.schema").joinpath("supabase_prelude.sql").read_text(encoding="utf-8")


def platform_prelude(config: SchemaConfig, *, root: Path) -> str | None:
    """The SQL to apply before the migrations in a clean bootstrap (None: none)."""
    if not config.platform_prelude:
        return None
    if config.prelude_file is None:
        return bundled_prelude()
    path = root / config.prelude_file
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PreludeMissing(
            f"schema.prelude_file `{config.prelude_file}` cannot be read ({exc.strerror}); fix the path or remove it"
        ) from exc
