"""Signed Slack requests, built exactly as Slack builds them (v0 HMAC-SHA256 over ``v0:<ts>:<body>``).

The shell uses these to drive the real Bolt listeners, and the tests and benchmarks to exercise signature checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str]


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def sign(
    secret: str,
    body: str,
    *,
    timestamp: int | None = None,
    retry_num: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> SignedRequest:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature(secret, ts, body),
    }
    if retry_num is not None:
        headers["x-slack-retry-num"] = str(retry_num)
        headers["x-slack-retry-reason"] = "http_timeout"
    return SignedRequest(body, headers)


def slash_command_body(
    *,
    text: str,
    user_id: str,
    response_url: str,
    command: str = "/zdm",
    channel_id: str = "C0SHELL",
    trigger_id: str | None = None,
) -> str:
    return urlencode(
        {
            "token": "unused-verification-token",
            "team_id": "T0LOCAL",
            "team_domain": "local",
            "channel_id": channel_id,
            "channel_name": "shell",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0ZDM",
            "response_url": response_url,
            "trigger_id": trigger_id or new_trigger_id(),
        }
    )


def block_action_body(
    *,
    user_id: str,
    action_id: str,
    value: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    block_id: str = "actions",
    trigger_id: str | None = None,
    message: dict[str, Any] | None = None,
) -> str:
    payload = {
        "type": "block_actions",
        **_interaction_envelope(user_id),
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": message or {"type": "message", "ts": message_ts, "text": ""},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def checkboxes_action_body(
    *,
    user_id: str,
    action_id: str,
    block_id: str,
    selected: list[dict[str, Any]],
    channel_id: str,
    message_ts: str,
    response_url: str,
    message_blocks: list[dict[str, Any]] | None = None,
) -> str:
    """A click on a checkboxes element: Slack reports every option checked after the click, with the message as
    the clicker's client showed it (``message_blocks``: its ``initial_options`` are what was checked before)."""
    payload = {
        "type": "block_actions",
        **_interaction_envelope(user_id),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "trigger_id": new_trigger_id(),
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": {"type": "message", "ts": message_ts, "text": "", "blocks": message_blocks or []},
        "response_url": response_url,
        "actions": [
            {
                "type": "checkboxes",
                "action_id": action_id,
                "block_id": block_id,
                "selected_options": selected,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(*, user_id: str, view: dict[str, Any], values: dict[str, dict[str, str]]) -> str:
    """A modal's submission; ``values`` maps block id → action id → the typed text."""
    state = {
        block: {action: {"type": "plain_text_input", "value": text} for action, text in actions.items()}
        for block, actions in values.items()
    }
    payload = {
        "type": "view_submission",
        **_interaction_envelope(user_id),
        "trigger_id": new_trigger_id(),
        "view": {
            **view,
            "team_id": "T0LOCAL",
            "state": {"values": state},
            "hash": view.get("hash") or uuid.uuid4().hex[:12],
        },
    }
    return urlencode({"payload": json.dumps(payload)})


def _interaction_envelope(user_id: str) -> dict[str, Any]:
    """The fields every interactive payload (button, dialog) carries about who and where."""
    return {
        "team": {"id": "T0LOCAL", "domain": "local"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0LOCAL"},
        "api_app_id": "A0ZDM",
        "token": "unused-verification-token",
    }


def new_trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
