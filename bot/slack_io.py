"""Slack-facing adapters for the ``commands`` ports: posting cards and resolving roles."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chart_png import render_png
from bot.render import card_blocks
from commands.cards import Card, MessageRef
from commands.config import RolesConfig
from commands.errors import RoleUnverifiable
from commands.ports import Clock, FileUploads, MessageGone

log = logging.getLogger(__name__)
REFRESH_S = 300.0  # re-read a group after this
DEFAULT_MAX_AGE_S = 600.0  # never trust a membership older than this (ZDM_ROLE_CACHE_MAX_AGE_S)
UPLOADED_KEPT = 256


class SlackNotifier:
    """Posts and updates cards; a card's chart is drawn to PNG and uploaded through ``uploads`` first (an
    unchanged image is uploaded once), then shown with an image block."""

    def __init__(self, client: WebClient, *, uploads: FileUploads | None = None) -> None:
        self._client = client
        self._uploads = uploads
        self._uploaded: dict[str, str] = {}  # sha256 of the PNG → file id
        self._lock = threading.Lock()

    def post(self, channel: str, card: Card, *, thread_ts: str | None = None) -> MessageRef:
        response = self._client.chat_postMessage(
            channel=channel, text=card.fallback_text, blocks=self._blocks(card), thread_ts=thread_ts
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def update(self, ref: MessageRef, card: Card) -> None:
        try:
            self._client.chat_update(channel=ref.channel, ts=ref.ts, text=card.fallback_text, blocks=self._blocks(card))
        except SlackApiError as exc:
            if exc.response.get("error") in ("message_not_found", "channel_not_found"):
                raise MessageGone(f"{ref.channel}/{ref.ts}: {exc.response.get('error')}") from exc
            raise

    def _blocks(self, card: Card) -> list[dict[str, Any]]:
        return card_blocks(card, chart_file=self._chart_file(card))

    def _chart_file(self, card: Card) -> str | None:
        if card.chart is None or self._uploads is None:
            return None
        try:
            data = render_png(card.chart)
            key = hashlib.sha256(data).hexdigest()
            with self._lock:
                known = self._uploaded.get(key)
            if known:
                return known
            file_id = self._uploads.upload(
                data, filename=card.chart.filename, title=card.chart.title, alt_text=card.chart.alt
            )
        except Exception as exc:  # no image then: the card shows the chart's numbers as text instead
            log.warning("could not upload the chart %r: %s", card.chart.title, exc)
            return None
        with self._lock:
            if len(self._uploaded) >= UPLOADED_KEPT:
                self._uploaded.clear()
            self._uploaded[key] = file_id
        return file_id


class SlackRoleDirectory:
    """Roles from zdm.toml: user ids match directly; user-group ids (``S…``) are expanded through Slack.

    A group's membership is re-read after ``refresh_s`` and trusted for at most ``max_age_s``; once it is older and
    Slack cannot answer, ``has_role`` raises ``RoleUnverifiable`` (fail closed) instead of using the stale list.
    Direct user-id entries never need Slack, so a directly listed `oncall` member can always roll back."""

    def __init__(
        self,
        roles: RolesConfig,
        client: WebClient | None,
        *,
        clock: Clock,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._roles = roles
        self._client = client
        self._clock = clock
        self._max_age = timedelta(seconds=max_age_s)
        self._refresh = timedelta(seconds=min(refresh_s, max_age_s))
        self._groups: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, role: str) -> Sequence[str]:
        return tuple(getattr(self._roles, role, ()))

    def has_role(self, user: str, role: str) -> bool:
        entries = self.members(role)
        if user in entries:
            return True
        return any(user in self._group_members(entry, user) for entry in entries if entry.startswith("S"))

    def _group_members(self, group: str, user: str) -> frozenset[str]:
        now = self._clock.now()
        with self._lock:
            cached = self._groups.get(group)
            if cached and now - cached[0] < self._refresh:
                return cached[1]
        if self._client is None:
            return frozenset()
        try:
            users = frozenset(self._client.usergroups_users_list(usergroup=group)["users"])
        except Exception as exc:  # a Slack error answer or network trouble
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            if cached and now - cached[0] < self._max_age:
                log.warning("could not list user group %s (%s); using its membership from %s", group, error, cached[0])
                return cached[1]
            log.warning("could not list user group %s (%s) and nothing recent is cached: refusing", group, error)
            raise RoleUnverifiable(user=user, group=group) from exc
        with self._lock:
            self._groups[group] = (now, users)
        return users
