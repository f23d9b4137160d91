"""A local stand-in for the Slack Web API, speaking its wire format.

Used by ``zdm shell`` / ``zdm demo`` when no Slack tokens are set, and by the tests as the network edge. It
answers ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``usergroups.users.list``,
``views.open`` and the file upload (``files.getUploadURLExternal``, a raw POST to the upload URL,
``files.completeUploadExternal``; the file is then served at ``/files/<id>``) like Slack does
(``{"ok": true, …}`` / ``{"ok": false, "error": …}``), and accepts ``response_url`` posts under
``/response/<id>``. Everything received is kept as ``Message`` records and handed to
subscribers (the shell prints them; tests wait on them).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.local import LocalHTTPServer
from bot.local.emulator_files import FileEndpoints, UploadedFile
from bot.local.emulator_http import http_handler

BOT_TOKEN = "xoxb-local-emulator"  # noqa: S105 - not a secret: the emulator's own fixed token


@dataclass
class Message:
    kind: str  # "message", "ephemeral", "response"
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str | None = None
    updates: int = 0
    history: list[str] = field(default_factory=list)
    view: dict[str, Any] | None = None  # for kind "modal": the view as opened


def channel_id(name: str) -> str:
    """Slack answers with channel ids; map ``#release`` to a stable ``C…`` id the way a workspace would."""
    if name.startswith(("C", "D", "G")) and name.isupper():
        return name
    return "C" + "".join(ch for ch in name.lstrip("#").upper() if ch.isalnum())[:20]


class SlackEmulator(FileEndpoints):
    def __init__(self, *, user_groups: dict[str, list[str]] | None = None, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.user_groups = dict(user_groups or {})
        self.messages: list[Message] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, UploadedFile] = {}
        self._cond = threading.Condition()
        self._subscribers: list[Callable[[Message, str], None]] = []
        self._ts = itertools.count(1)
        self._rate_limited = 0
        self.rate_limited_answers = 0
        self.failing: dict[str, str] = {}  # Web API method → the error it answers with (``fail``)
        # set: chat.update of a message this emulator never posted answers this error (not message_not_found, so
        # nobody re-posts and re-links a message that lives in another Slack or another process)
        self.foreign_update_error: str | None = None
        self._server = LocalHTTPServer(http_handler(self), name="slack-emulator")

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def rate_limit_next(self, calls: int) -> None:
        """Answer the next ``calls`` Web API calls with HTTP 429 and ``Retry-After: 1``, as Slack does."""
        with self._cond:
            self._rate_limited = calls

    def fail(self, method: str, error: str | None = "fatal_error") -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}`` from now on (``None``: answer normally again)."""
        with self._cond:
            if error is None:
                self.failing.pop(method, None)
            else:
                self.failing[method] = error

    def take_rate_limit(self) -> bool:
        """Whether this Web API call is answered with HTTP 429 (``rate_limit_next``)."""
        with self._cond:
            if self._rate_limited <= 0:
                return False
            self._rate_limited -= 1
            self.rate_limited_answers += 1
            return True

    def response_url(self, key: str) -> str:
        return f"{self.url}/response/{key}"

    def start(self) -> SlackEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def subscribe(self, callback: Callable[[Message, str], None]) -> None:
        """``callback(message, event)`` with event ``"posted"`` or ``"updated"``, on the server thread."""
        self._subscribers.append(callback)

    def snapshot(self) -> list[Message]:
        """Everything received so far (a copy of the list; the records are live)."""
        with self._cond:
            return list(self.messages)

    def in_channel(self, name: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.channel == channel_id(name) and m.kind == "message"]

    def wait_for(self, predicate: Callable[[list[Message]], Any], *, timeout: float = 10.0) -> Any:
        """Block until ``predicate(messages)`` is truthy (re-checked on every post/update); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.messages))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the expected Slack messages did not arrive")
                self._cond.wait(remaining)

    # --- request handling (server thread) ----------------------------------------------------------------

    def handle_api(self, method: str, params: dict[str, Any], auth: str | None) -> dict[str, Any]:
        self.calls.append((method, params))
        if auth != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth" if auth else "not_authed"}
        if error := self.failing.get(method):
            return {"ok": False, "error": error}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://local.slack.invalid/",
                "team": "Local",
                "user": "zdm",
                "team_id": "T0LOCAL",
                "user_id": "U0ZDMBOT",
                "bot_id": "B0ZDMBOT",
            }
        if method == "chat.postMessage":
            return self._post("message", params)
        if method == "chat.postEphemeral":
            if not params.get("user"):
                return {"ok": False, "error": "user_not_in_channel"}
            response = self._post("ephemeral", params)
            return {"ok": True, "message_ts": response["ts"]}
        if method == "chat.update":
            return self._update(params)
        if method == "usergroups.users.list":
            group = str(params.get("usergroup", ""))
            if group not in self.user_groups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.user_groups[group]}
        if method == "views.open":
            return self._open_view(params)
        if method == "files.getUploadURLExternal":
            return self._start_upload(params)
        if method == "files.completeUploadExternal":
            return self._complete_upload(params)
        return {"ok": False, "error": "unknown_method"}

    def handle_response_url(self, key: str, body: dict[str, Any]) -> None:
        self._post("response", {"channel": f"response:{key}", **body})

    def _post(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if self._unknown_image(_as_list(params.get("blocks"))):
            return {"ok": False, "error": "invalid_blocks"}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = Message(
            kind=kind,
            channel=channel if kind == "response" else channel_id(channel),
            ts=ts,
            text=str(params.get("text") or ""),
            blocks=_as_list(params.get("blocks")),
            thread_ts=params.get("thread_ts") or None,
            user=params.get("user"),
        )
        self._publish(message, "posted", append=True)
        return {
            "ok": True,
            "channel": message.channel,
            "ts": ts,
            "message": {"type": "message", "text": message.text, "ts": ts, "bot_id": "B0ZDMBOT"},
        }

    def _open_view(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = {**_as_dict(params.get("view")), "id": f"V{next(self._ts):08d}"}
        title = str((view.get("title") or {}).get("text", ""))
        modal = Message("modal", "modal", view["id"], title, list(view.get("blocks") or []), view=view)
        self._publish(modal, "posted", append=True)
        return {"ok": True, "view": view}

    def modals(self) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.kind == "modal"]

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        if self._unknown_image(_as_list(params.get("blocks"))):
            return {"ok": False, "error": "invalid_blocks"}
        with self._cond:
            found = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
            if found is None:
                missing = "message_not_found" if channel.startswith("C") else "channel_not_found"
                return {"ok": False, "error": self.foreign_update_error or missing}
            found.history.append(found.text)
            found.text = str(params.get("text") or found.text)
            found.blocks = _as_list(params.get("blocks")) or found.blocks
            found.updates += 1
        self._publish(found, "updated", append=False)
        return {"ok": True, "channel": channel, "ts": ts, "text": found.text}

    def _publish(self, message: Message, event: str, *, append: bool) -> None:
        with self._cond:
            if append:
                self.messages.append(message)
            self._cond.notify_all()
        for callback in list(self._subscribers):
            callback(message, event)


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return list(value or [])


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})
