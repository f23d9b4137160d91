"""The pre-migration checklist (runbook §1) as data, and the pure decisions about it.

Items zdm verifies itself (``Check``) carry their evidence; items only a person can confirm (``Confirmation``)
carry who ticked them and when. The checklist is complete when every check passes and every required
confirmation is ticked; ``blockers`` says what is missing, one phrase per item.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from commands.checklist.config import ConfirmItem, ReleaseSpec
from commands.errors import NotAuthorized, UserError


@dataclass(frozen=True)
class Check:
    key: str
    text: str
    ok: bool
    evidence: tuple[str, ...]  # what zdm saw: files, lines, findings


@dataclass(frozen=True)
class Tick:
    item: str
    ticked: bool
    actor: str
    at: datetime


@dataclass(frozen=True)
class Confirmation:
    item: ConfirmItem
    required: bool
    tick: Tick | None = None

    @property
    def ticked(self) -> bool:
        return self.tick is not None and self.tick.ticked


@dataclass(frozen=True)
class Checklist:
    release: str
    title: str
    checks: tuple[Check, ...]
    confirmations: tuple[Confirmation, ...]

    @property
    def blockers(self) -> tuple[str, ...]:
        found = [f"{c.text}: {c.evidence[0] if c.evidence else 'not found'}" for c in self.checks if not c.ok]
        found += [f"{c.item.text}: not confirmed" for c in self.confirmations if c.required and not c.ticked]
        return tuple(found)

    @property
    def complete(self) -> bool:
        return not self.blockers


def confirmations(
    items: tuple[ConfirmItem, ...], ticks: Mapping[str, Tick], *, high_volume: bool
) -> tuple[Confirmation, ...]:
    return tuple(Confirmation(i, required=high_volume or not i.high_volume_only, tick=ticks.get(i.key)) for i in items)


def changed_ticks(
    checklist: Checklist, selected: Collection[str], *, clicked: Collection[str] | None = None
) -> list[tuple[ConfirmItem, bool]]:
    """What a click on the checkboxes changes: (item, ticked) for each item whose state differs from the record.

    Slack sends every option selected after the click; unknown values are ignored. ``clicked`` (the options whose
    state differs from the card as the clicker saw it) limits the change to those: a click on a stale card must not
    untick what someone else ticked since."""
    return [
        (c.item, c.item.key in selected)
        for c in checklist.confirmations
        if c.ticked != (c.item.key in selected) and (clicked is None or c.item.key in clicked)
    ]


def authorise_tick(item: ConfirmItem, *, actor: str, roles: Collection[str]) -> None:
    """Raise ``NotAuthorized`` unless ``actor`` holds one of the item's roles (``roles``: those they hold)."""
    if not set(item.roles) & set(roles):
        raise NotAuthorized(user=actor, role=item.roles, action=f"confirm “{item.text}”")


class UnknownRelease(UserError):
    def __init__(self, *, release: str, known: Collection[str]) -> None:
        names = ", ".join(f"`{n}`" for n in sorted(known)) or "none yet"
        super().__init__(f"There is no release `{release[:40]}` in zdm.toml (`[releases.<name>]`); releases: {names}.")
        self.release = release


def named_release(releases: Mapping[str, ReleaseSpec], name: str) -> ReleaseSpec:
    """The ``[releases.<name>]`` section, or ``UnknownRelease`` listing the ones zdm.toml has."""
    spec = releases.get(name)
    if spec is None:
        raise UnknownRelease(release=name, known=releases)
    return spec
