"""Slack-facing adapters for the ``commands`` ports: posting cards and resolving roles."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render import card_blocks
from commands.cards import Card, MessageRef
from commands.config import RolesConfig
from commands.ports import MessageGone

log = logging.getLogger(__name__)
GROUP_CACHE_S = 300.0


class SlackNotifier:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        response = self._client.chat_postMessage(
            channel=channel, text=card.fallback_text, blocks=card_blocks(card), thread_ts=thread_ts
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def update(self, ref: MessageRef, card: Card) -> None:
        try:
            self._client.chat_update(channel=ref.channel, ts=ref.ts, text=card.fallback_text, blocks=card_blocks(card))
        except SlackApiError as exc:
            if exc.response.get("error") in ("message_not_found", "channel_not_found"):
                raise MessageGone(f"{ref.channel}/{ref.ts}: {exc.response.get('error')}") from exc
            raise


class SlackRoleDirectory:
    """Roles from zdm.toml: user ids match directly; user-group ids (``S…``) are expanded through Slack."""

    def __init__(self, roles: RolesConfig, client: WebClient | None) -> None:
        self._roles = roles
        self._client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, role: str) -> Sequence[str]:
        return tuple(getattr(self._roles, role, ()))

    def has_role(self, user: str, role: str) -> bool:
        entries = self.members(role)
        if user in entries:
            return True
        return any(user in self._group_members(entry) for entry in entries if entry.startswith("S"))

    def _group_members(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(group)
            if cached and now - cached[0] < GROUP_CACHE_S:
                return cached[1]
        if self._client is None:
            return frozenset()
        try:
            users = frozenset(self._client.usergroups_users_list(usergroup=group)["users"])
        except SlackApiError as exc:
            log.warning("could not list members of user group %s: %s", group, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        except Exception:  # network trouble: keep answering with what we knew
            log.warning("could not reach Slack to list user group %s", group, exc_info=True)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._groups[group] = (now, users)
        return users
