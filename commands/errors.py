"""Errors a user can act on.

A ``UserError`` carries one plain sentence that is shown to the person as is (ephemeral in Slack). Anything that
is not a ``UserError`` is an internal error: logged with a correlation id, never shown as a stack trace.
"""

from __future__ import annotations


class UserError(Exception):
    """A business reason the user can act on; ``str(err)`` is the sentence they see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(Exception):
    """The runbook configuration (zdm.toml) or the settings are invalid; names the offending key."""


class UsageError(UserError):
    """The command was typed wrong."""


class InvalidSlug(UserError):
    def __init__(self, *, slug: str) -> None:
        shown = slug if len(slug) <= 40 else slug[:40] + "…"
        super().__init__(
            f"`{shown}` is not a valid tenant slug: use lowercase letters, digits, `_` or `-` "
            "(at most 63 characters, starting with a letter or digit)."
        )
        self.slug = slug


class TenantNotFound(UserError):
    def __init__(self, *, slug: str) -> None:
        super().__init__(f"Tenant `{slug}` not found. Try `/zdm tenants {slug[:3]}*` to search by prefix.")
        self.slug = slug


class NotAuthorized(UserError):
    def __init__(self, *, user: str, role: str | tuple[str, ...], action: str) -> None:
        roles = (role,) if isinstance(role, str) else role
        names = " or ".join(f"`{r}`" for r in roles)
        super().__init__(
            f"Only members of {names} may {action}; ask someone in {names} or have an admin add you "
            "to that role in zdm.toml."
        )
        self.user = user
        self.role = roles[0]
        self.action = action


class RoleUnverifiable(UserError):
    """A role held through a Slack user group could not be checked (Slack did not answer and the cached membership
    is too old): zdm fails closed."""

    def __init__(self, *, user: str, group: str) -> None:
        super().__init__(
            "zdm cannot verify your role right now (Slack did not answer its user-group lookup); nothing was changed, "
            "try again in a minute."
        )
        self.user = user
        self.group = group


class StalePrompt(UserError):
    def __init__(self, *, what: str) -> None:
        super().__init__(f"This prompt is stale: {what}. Nothing was changed.")


class RollbackFileMissing(UserError):
    def __init__(self, *, version: str, folder: str) -> None:
        super().__init__(
            f"No `{version}_*_rollback.sql` file in `{folder}`; add the paired rollback migration "
            "or run the rollback without `--schema`."
        )
        self.version = version


class RollbackInProgress(UserError):
    def __init__(self, *, tenant: str, rollback_id: int | None) -> None:
        which = f" (#{rollback_id})" if rollback_id else ""
        super().__init__(
            f"A rollback of `{tenant}` is already in progress{which}; follow it in the release channel, "
            "or finish its schema step (apply or skip) before starting another."
        )
        self.tenant = tenant


class RollbackBusy(UserError):
    def __init__(self, *, rollback_id: int) -> None:
        super().__init__(
            f"Your decision on rollback #{rollback_id} is recorded, but another zdm worker is busy with it; "
            "it will be applied within a minute and the card will update."
        )


class RolloutActive(UserError):
    def __init__(self, *, flag: str, rollout_id: int | None) -> None:
        which = f" (#{rollout_id})" if rollout_id else ""
        super().__init__(
            f"`{flag}` already has an active rollout{which}; see `/zdm rollout status`, or abort it with "
            "`/zdm rollout abort <reason>` before starting another."
        )


class NoSuchRollout(UserError):
    def __init__(self, *, rollout_id: int | None) -> None:
        if rollout_id is None:
            text = "There is no active rollout. Start one with `/zdm rollout start`, or see `/zdm rollout list`."
        else:
            text = f"There is no rollout #{rollout_id}. `/zdm rollout list` shows the recent ones."
        super().__init__(text)


class SelfApproval(UserError):
    def __init__(self, *, rollout_id: int) -> None:
        super().__init__(
            f"You started rollout #{rollout_id}, so you cannot approve its steps; ask another release approver."
        )


class GateBlocked(UserError):
    def __init__(self, *, why: str) -> None:
        super().__init__(
            f"KPI gate not met, so nothing was enabled: {why}. Approve again once the gate passes (the card shows "
            "the live figures)."
        )


class OutsideServiceFailed(UserError):
    """GitHub, PagerDuty or another outside service refused or did not answer (after retries)."""

    def __init__(self, *, service: str, what: str, why: str) -> None:
        super().__init__(f"{service} failed for {what}: {why.strip()}. Check zdm's settings for {service}.")
        self.service = service


class RepositoryUnavailable(UserError):
    """The application's git repository could not be fetched or does not have the ref or commit asked for."""

    def __init__(self, *, url: str, why: str) -> None:
        super().__init__(f"zdm could not read the repository `{url}`: {why.strip()}. Nothing was changed.")
        self.url = url


class LockLost(Exception):
    """A worker's lease on ``lock`` was taken over (it had expired): the worker must stop, not write late.

    Not a ``UserError``: the worker that took over continues the work and reports it."""

    def __init__(self, *, lock: str) -> None:
        super().__init__(f"the lease on {lock} was taken over by another worker")
        self.lock = lock


class RollbackFileChanged(UserError):
    def __init__(self, *, rollback_id: int, file: str) -> None:
        super().__init__(
            f"`{file}` changed since rollback #{rollback_id} was requested, so this confirmation is void and nothing "
            "was applied; review the new file and request a new schema rollback."
        )
        self.rollback_id = rollback_id


class SecondPersonRequired(UserError):
    def __init__(self, *, rollback_id: int) -> None:
        super().__init__(
            f"You requested rollback #{rollback_id}, so you cannot apply its schema rollback yourself; ask a `dba` "
            "or `platform_lead` (a second person) to confirm it."
        )


class TenantsStillOn(UserError):
    def __init__(self, *, count: int, flag: str, file: str) -> None:
        super().__init__(
            f"{count} other tenant(s) have `{flag}` on now and `{file}` changes the schema for all of them, so it was "
            f"not applied; use “Turn the flag off for all {count} tenants, then apply” on the refreshed card, or skip."
        )
        self.count = count
