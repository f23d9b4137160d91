"""Who may do what: one role check for every stage, so every refusal is audited and worded the same way."""

from __future__ import annotations

from commands.errors import NotAuthorized
from commands.ports import AuditEvent, AuditLog, Clock, RoleDirectory


def require_role(
    roles: RoleDirectory,
    audit: AuditLog,
    clock: Clock,
    *,
    actor: str,
    any_of: str | tuple[str, ...],
    action: str,
    audit_action: str,
    subject: str,
    correlation_id: str | None = None,
) -> None:
    """Pass when ``actor`` holds one of the roles; otherwise record the refusal and raise ``NotAuthorized``, whose
    sentence ("Only members of `oncall` may run rollbacks; …") is what the person sees."""
    wanted = (any_of,) if isinstance(any_of, str) else any_of
    if any(roles.has_role(actor, role) for role in wanted):
        return
    detail = {"missing_role": wanted[0]} if len(wanted) == 1 else {"missing_roles": list(wanted)}
    audit.record(AuditEvent(actor, audit_action, subject, "refused", detail, correlation_id), at=clock.now())
    raise NotAuthorized(user=actor, role=wanted, action=action)
