"""Who may run each ``/zdm`` command: one table, ``[permissions]`` in zdm.toml, over the defaults below.

A key is a command (``"schema"``) or a command and its first word (``"schema status"``); the longer key wins.
A value lists roles from ``[roles]``, or ``["everyone"]``. A command missing from the table is refused to everyone
(fail closed), so a new command cannot slip in without a row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from commands.authz import require_role
from commands.ports import AuditLog, Clock, RoleDirectory

EVERYONE = "everyone"
KEY = re.compile(r"^[a-z][a-z-]*( [a-z][a-z-]*)?$")
WORD = re.compile(r"^[a-z][a-z-]{0,19}$")
RELEASE_ROLES = ("dba", "platform_lead", "release_approvers", "security")

DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "help": (EVERYONE,),
    "tenants": (EVERYONE,),
    "alerts": (EVERYONE,),
    "log": (EVERYONE,),  # read-only: the rollback-log and notes entries and where each was delivered
    "rollback": ("oncall",),
    "rollout": ("release_approvers",),
    "rollout pause": ("oncall", "release_approvers"),
    "rollout abort": ("oncall", "release_approvers"),
    "rollout status": (EVERYONE,),
    "rollout list": (EVERYONE,),
    "backfill": ("dba", "platform_lead"),
    "backfill pause": ("oncall", "dba", "platform_lead"),
    "backfill cancel": ("oncall", "dba", "platform_lead"),
    "backfill status": (EVERYONE,),
    "schema": ("dba", "platform_lead"),
    "schema status": (EVERYONE,),
    "checklist": RELEASE_ROLES,
    "cleanup": ("dba", "platform_lead"),
    "notes": ("release_approvers",),
    "archive": ("release_approvers",),
    "queue": (EVERYONE,),  # read-only listing; `queue cancel` is checked by the queue (requester or platform_lead)
}


def permission_table(overrides: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The defaults with zdm.toml's rows on top (a row replaces the default of the same key)."""
    return {**DEFAULT_PERMISSIONS, **{" ".join(key.lower().split()): tuple(roles) for key, roles in overrides.items()}}


def check_permissions(overrides: Mapping[str, tuple[str, ...]], *, known_roles: set[str]) -> None:
    """Raise ``ValueError`` naming the first bad row of ``[permissions]``."""
    for key, roles in overrides.items():
        if not KEY.match(" ".join(key.lower().split())):
            raise ValueError(f"permissions: {key!r} is not a command or 'command subcommand'")
        if not roles:
            raise ValueError(f'permissions {key!r}: list at least one role, or ["{EVERYONE}"]')
        if unknown := [r for r in roles if r not in known_roles and r != EVERYONE]:
            raise ValueError(f"permissions {key!r}: unknown role {unknown[0]!r}; roles: {sorted(known_roles)}")


def roles_for(table: Mapping[str, tuple[str, ...]], command: str, args: str) -> tuple[str, tuple[str, ...]]:
    """The row that governs ``/zdm <command> <args>``: (its key, its roles); no row = no roles."""
    words = args.split(maxsplit=1)
    if words and (key := f"{command} {words[0].lower()}") in table:
        return key, table[key]
    return command, table.get(command, ())


def authorize_command(
    table: Mapping[str, tuple[str, ...]],
    *,
    roles: RoleDirectory,
    audit: AuditLog,
    clock: Clock,
    actor: str,
    command: str,
    args: str,
    correlation_id: str | None = None,
) -> None:
    """Pass when the row allows everyone or ``actor`` holds one of its roles; otherwise the refusal is audited
    (``command.refused``) and ``NotAuthorized`` (or ``RoleUnverifiable``) says why in one sentence."""
    key, allowed = roles_for(table, command, args)
    if EVERYONE in allowed:
        return
    words = args.split(maxsplit=1)
    typed = f"{command} {words[0]}" if words and WORD.match(words[0]) else command
    require_role(
        roles, audit, clock, actor=actor, any_of=allowed or ("nobody",), action=f"run `/zdm {typed}`",
        audit_action="command.refused", subject=key, correlation_id=correlation_id,
    )  # fmt: skip


def describe(allowed: tuple[str, ...]) -> str:
    """``/zdm help``'s wording of a row."""
    if EVERYONE in allowed:
        return "everyone"
    return ", ".join(f"`{role}`" for role in allowed) if allowed else "nobody"
