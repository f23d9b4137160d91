"""Who may do what: one role check for every stage, so every refusal is audited and worded the same way."""

from __future__ import annotations

from commands.errors import NotAuthorized, RoleUnverifiable
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
    sentence ("Only members of `oncall` may run rollbacks; …") is what the person sees. When a role could only be
    confirmed through Slack and Slack cannot say (``RoleUnverifiable``), that is recorded and raised instead: a role
    held directly (by user id) in another of the roles still passes."""
    wanted = (any_of,) if isinstance(any_of, str) else any_of
    unverifiable: RoleUnverifiable | None = None
    for role in wanted:
        try:
            if roles.has_role(actor, role):
                return
        except RoleUnverifiable as exc:
            unverifiable = unverifiable or exc
    detail: dict[str, object] = {"missing_role": wanted[0]} if len(wanted) == 1 else {"missing_roles": list(wanted)}
    if unverifiable is not None:
        detail["unverified_group"] = unverifiable.group
        audit.record(AuditEvent(actor, audit_action, subject, "unverified", detail, correlation_id), at=clock.now())
        raise unverifiable
    audit.record(AuditEvent(actor, audit_action, subject, "refused", detail, correlation_id), at=clock.now())
    raise NotAuthorized(user=actor, role=wanted, action=action)
