"""The `[permissions]` table: rows over the defaults, the longer key wins, bad rows stop start-up with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.listeners.registry import CommandRegistry
from commands.config import load_config
from commands.errors import ConfigError
from commands.general.args import HELP_ARGS
from commands.permissions import DEFAULT_PERMISSIONS, EVERYONE, permission_table, roles_for


def config_with(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "zdm.toml"
    path.write_text(f"[permissions]\n{rows}\n", encoding="utf-8")
    return path


def test_rows_replace_defaults_and_the_subcommand_row_wins(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, '"Schema  Plan" = ["release_approvers"]\n"notes" = ["everyone"]'))
    table = config.command_permissions
    assert roles_for(table, "schema", "plan preview") == ("schema plan", ("release_approvers",))
    assert roles_for(table, "schema", "deploy preview") == ("schema", DEFAULT_PERMISSIONS["schema"])
    assert roles_for(table, "schema", "STATUS") == ("schema status", (EVERYONE,))
    assert roles_for(table, "notes", "profiles") == ("notes", (EVERYONE,))
    assert roles_for(table, "nothing", "") == ("nothing", ())  # no row: nobody


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ('"schema plan" = ["dbas"]', "permissions 'schema plan': unknown role 'dbas'"),
        ('"schema plan" = []', "permissions 'schema plan': list at least one role"),
        ('"schema plan now" = ["dba"]', "'schema plan now' is not a command or 'command subcommand'"),
    ],
)
def test_a_bad_row_names_itself(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(config_with(tmp_path, rows))
    assert message in str(refused.value)


def test_a_row_for_a_command_that_does_not_exist_is_refused_at_start() -> None:
    registry = CommandRegistry(permission_table({"deploy": ("dba",)}))
    registry.command("help", grammar=HELP_ARGS)(lambda ctx: None)  # type: ignore[arg-type,return-value]
    registry.check_permissions(["help"])
    with pytest.raises(ConfigError, match="there is no `/zdm deploy` command"):
        registry.check_permissions(["help", "deploy"])
