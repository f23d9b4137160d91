"""What the web page of ``zdm demo --web`` sees and does, without HTTP: the emulator's messages as JSON, and
commands, clicks and dialog answers sent as signed Slack requests through the same Bolt listeners as the shell.

The demo controls (``advance``, ``traffic``, ``as``, ``clock``) are the text shell's own lines, run by its
``Shell``; what it prints for them is shown in the page's console.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltRequest

from bot.local.emulator import Message, channel_id
from bot.shell import Shell
from bot.signing import block_action_body, checkboxes_action_body, sign, slash_command_body, view_submission_body

WORK_TIMEOUT_S = 120.0
CONSOLE_KEPT = 200
CONTROL_WORDS = ("advance", "traffic", "clock", "as", "whoami", "release", "wait", "help")


class Console:
    """The text shell's output (``Shell.out``): message renders are left out (the page draws those)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if text.strip() and not text.startswith("──"):
            with self._lock:
                self.lines = [*self.lines, *text.rstrip("\n").splitlines()][-CONSOLE_KEPT:]
        return len(text)

    def flush(self) -> None:
        return


@dataclass
class Ephemeral:
    """An answer only the acting user sees (a command's acknowledgement, a ``response_url`` post)."""

    id: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]


class Workspace:
    def __init__(self, shell: Shell, console: Console, *, channels: list[str]) -> None:
        self.shell = shell
        self.console = console
        self.channels = channels  # names, e.g. ["#release"]
        self.ephemerals: list[Ephemeral] = []
        self.closed_views: set[str] = set()
        self.errors: dict[str, dict[str, str]] = {}  # view id → block id → error
        self._responses: dict[str, str] = {}  # "response:<key>" → the channel the request came from (this user's)
        self._seq = itertools.count(1)
        self._version = 0
        self._lock = threading.Lock()
        self.changed = threading.Condition()
        shell.emulator.subscribe(self._on_message)

    # --- reading ---------------------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def bump(self) -> None:
        with self._lock:
            self._version += 1
        with self.changed:
            self.changed.notify_all()

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the version moves past ``version`` (or ``timeout``); the page long-polls with it."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != version, timeout=timeout)
        return self.version

    def state(self) -> dict[str, Any]:
        messages = self.shell.emulator.snapshot()
        user = self.shell.user
        shown = [_message_json(m) for m in messages if m.kind == "message"]
        shown += [
            _message_json(m, kind="ephemeral", channel=self._responses.get(m.channel, m.channel))
            for m in messages
            if (m.kind == "response" and m.channel in self._responses) or (m.kind == "ephemeral" and m.user == user)
        ]
        shown += [
            {"id": e.id, "kind": "ephemeral", "channel": e.channel, "ts": e.id, "text": e.text, "blocks": e.blocks}
            for e in self.ephemerals
            if e.user == user
        ]
        modal = next((m.view for m in reversed(messages) if m.kind == "modal" and m.ts not in self.closed_views), None)
        demo = self.shell.demo
        return {
            "version": self.version,
            "user": user,
            "clock": f"{demo.now():%Y-%m-%d %H:%M} UTC" if demo.now else None,
            "channels": [{"id": channel_id(name), "name": name} for name in self.channels],
            "messages": shown,
            "modal": modal,
            "modal_errors": self.errors.get(str((modal or {}).get("id")), {}),
            "console": self.console.lines[-40:],
        }

    # --- acting ----------------------------------------------------------------------------------------------

    def command(self, text: str, *, channel: str) -> None:
        """A ``/zdm …`` line from the composer; any other line is a shell control (``advance 12h``)."""
        line = text.strip()
        if not line:
            return
        if not line.startswith("/"):
            word = line.split()[0]
            if word not in CONTROL_WORDS:
                self.console.write(f"Unknown input `{word}`: type /zdm …, or use the demo controls.")
            else:
                self.shell.execute(line)
            self.bump()
            return
        command, _, rest = line.partition(" ")
        body = slash_command_body(
            text=rest,
            user_id=self.shell.user,
            response_url=self._response_url(channel),
            command=command,
            channel_id=channel,
        )
        self._answer(self._dispatch(body), channel)

    def press(self, *, channel: str, ts: str, action_id: str, value: str, block_id: str = "actions") -> None:
        body = block_action_body(
            user_id=self.shell.user,
            action_id=action_id,
            value=value,
            channel_id=channel,
            message_ts=ts,
            response_url=self._response_url(channel),
            block_id=block_id,
        )
        self._answer(self._dispatch(body), channel)

    def tick(self, *, channel: str, ts: str, action_id: str, block_id: str, selected: list[dict[str, Any]]) -> None:
        body = checkboxes_action_body(
            user_id=self.shell.user,
            action_id=action_id,
            block_id=block_id,
            selected=selected,
            channel_id=channel,
            message_ts=ts,
            response_url=self._response_url(channel),
        )
        self._answer(self._dispatch(body), channel)

    def submit(self, *, view_id: str, values: dict[str, dict[str, str]]) -> dict[str, str]:
        """Answer the open dialog; returns the dialog's errors (empty when it closed)."""
        view = next((m.view for m in self.shell.emulator.modals() if m.ts == view_id), None)
        if view is None or view_id in self.closed_views:
            return {"": "That dialog is no longer open."}
        response = self._dispatch(view_submission_body(user_id=self.shell.user, view=view, values=values))
        payload = json.loads(response.body) if response.body else {}
        if payload.get("response_action") == "errors":
            self.errors[view_id] = {str(k): str(v) for k, v in payload.get("errors", {}).items()}
            self.bump()
            return self.errors[view_id]
        self.close(view_id)
        self.shell.executor.wait_idle(WORK_TIMEOUT_S)
        return {}

    def close(self, view_id: str) -> None:
        self.closed_views.add(view_id)
        self.bump()

    def act_as(self, user: str) -> None:
        if user.strip():
            self.shell.execute(f"as {user.strip()}")
        self.bump()

    # --- helpers ---------------------------------------------------------------------------------------------

    def _dispatch(self, body: str) -> Any:
        signed = sign(self.shell.secret, body)
        return self.shell.app.dispatch(BoltRequest(body=signed.body, headers=dict(signed.headers.items())))

    def _answer(self, response: Any, channel: str) -> None:
        """The acknowledgement Bolt sent back (shown only to the acting user), then wait for the work it started."""
        text, blocks = "", []
        if response.status != 200:
            text = f"Slack would show an error: HTTP {response.status}"
        elif response.body:
            try:
                payload = json.loads(response.body)
                text, blocks = str(payload.get("text", "")), list(payload.get("blocks") or [])
            except ValueError:
                text = str(response.body)
        if text or blocks:
            entry = Ephemeral(f"ack-{next(self._seq)}", channel, self.shell.user, text, blocks)
            self.ephemerals = [*self.ephemerals, entry][-50:]
        self.bump()
        self.shell.executor.wait_idle(WORK_TIMEOUT_S)
        self.bump()

    def _response_url(self, channel: str) -> str:
        """Answers to it are shown in ``channel``, to the user acting now (as Slack shows ephemeral responses)."""
        key = uuid.uuid4().hex
        self._responses[f"response:{key}"] = channel
        return self.shell.emulator.response_url(key)

    def _on_message(self, message: Message, event: str) -> None:
        self.bump()


def _message_json(message: Message, *, kind: str | None = None, channel: str | None = None) -> dict[str, Any]:
    channel = channel or message.channel
    return {
        "id": f"{channel}/{message.ts}",
        "kind": kind or message.kind,
        "channel": channel,
        "ts": message.ts,
        "thread_ts": message.thread_ts,
        "text": message.text,
        "blocks": message.blocks,
        "updates": message.updates,
        "user": message.user,
    }
