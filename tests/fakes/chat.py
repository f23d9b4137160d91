"""Slack's side in memory: the notifier (cards posted and updated) and the role directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from commands.cards import Card, MessageRef
from commands.ports import MessageGone


@dataclass
class MemoryNotifier:
    posts: list[tuple[str, Card]] = field(default_factory=list)
    updates: list[tuple[MessageRef, Card]] = field(default_factory=list)
    threads: list[tuple[str, str, Card]] = field(default_factory=list)  # (channel, thread_ts, card)
    gone: set[str] = field(default_factory=set)  # message ts that were deleted

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        self.posts.append((channel, card))
        if thread_ts is not None:
            self.threads.append((channel, thread_ts, card))
        return MessageRef("C0RELEASE", f"1.{len(self.posts)}")

    def update(self, ref: MessageRef, card: Card) -> None:
        if ref.ts in self.gone:
            raise MessageGone(ref.ts)
        self.updates.append((ref, card))


@dataclass
class MemoryRoles:
    roles: dict[str, set[str]] = field(default_factory=dict)

    def has_role(self, user: str, role: str) -> bool:
        return user in self.roles.get(role, set())

    def members(self, role: str) -> Sequence[str]:
        return sorted(self.roles.get(role, set()))
