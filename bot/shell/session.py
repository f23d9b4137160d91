"""The shell itself: reads lines (``/zdm …``, ``press N``, demo controls), sends each command and click as a
signed Slack request through the Bolt app, and prints what the bot posts to the local Slack emulator."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from slack_bolt import App, BoltRequest

from bot.executor import TrackingExecutor
from bot.local.emulator import Message, SlackEmulator, channel_id
from bot.shell.buttons import ButtonBoard, ShownButton, blocks_as_shown, toggled
from bot.shell.controls import DemoControls, run_demo_control
from bot.shell.render import render_blocks
from bot.signing import (
    block_action_body,
    checkboxes_action_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from commands.text import whole_number

SHELL_HELP = """\
  /zdm <command> …   run a zdm command (try /zdm help)
  press N            press button [N] (asks before confirm dialogs)
  tick N             tick or untick checkbox [N] (e.g. on a /zdm checklist card)
  submit <text>      answer the open dialog (e.g. the reason asked for by a Deny button)
  as <USER_ID>       act as another Slack user, e.g. `as U0GUEST` to see refusals (not on real databases)
  whoami             show who you are acting as
  history [#channel] show what was posted to a channel (default: the release channel)
  wait               wait until background work (a running backfill) stops
  clock              show the bot's clock
  advance <dur>      demo: move the clock forward (e.g. `advance 12h`) and run the scheduler
  traffic <pct> [t]  demo: the demo app's error rate in percent, for all tenants or tenant t (`traffic 5 pilot_a`)
  release            demo: show the release issue (kept by the local GitHub stand-in)
  lighthouse <path>  ingest a Lighthouse JSON report: archive it, compare with the baseline, ticket a drop > 5
  quit               leave (Ctrl-D works too)"""
WORK_TIMEOUT_S = 900.0


class Shell:
    def __init__(
        self,
        *,
        app: App,
        emulator: SlackEmulator,
        signing_secret: str,
        executor: TrackingExecutor,
        user: str,
        out: TextIO = sys.stdout,
        ask: Callable[[str], str] | None = None,
        release_channel: str = "#release",
        demo: DemoControls | None = None,
        switch_user: bool = True,
    ) -> None:
        self.app = app
        self.emulator = emulator
        self.secret = signing_secret
        self.executor = executor
        self.user = user
        self.out = out
        self.ask = ask
        self.release_channel = release_channel
        self.demo = demo or DemoControls()
        self.switch_user = switch_user  # `as <user>`: off on real databases (one person, one identity)
        self.modal: dict[str, Any] | None = None
        self.buttons = ButtonBoard()
        self._shown: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        emulator.subscribe(self._on_message)

    # --- input ---------------------------------------------------------------------------------------------

    def run(self, lines: Iterable[str], *, prompt: bool) -> None:
        if prompt:
            self._print(f"zdm shell — acting as {self.user}. Type `help` for shell commands, `/zdm help` for zdm.")
        for raw in _prompted(lines, prompt):
            if not self.execute(raw):
                break

    def execute(self, raw: str) -> bool:
        """Handle one line; False means quit."""
        line = raw.strip()
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        if word in ("quit", "exit"):
            return False
        if self.demo.catch_up is not None:
            self.demo.catch_up()  # a KPI read by this line sees every minute the clock has passed
        if word == "help":
            self._print(SHELL_HELP)
        elif word == "whoami":
            self._print(f"acting as {self.user}")
        elif word == "as" and not self.switch_user:
            self._print(
                f"`as` only works in `zdm demo`: on real databases you stay {self.user} (ZDM_SHELL_USER), so one "
                "person cannot approve twice."
            )
        elif word == "as":
            self.user = rest.strip() or self.user
            self._print(f"now acting as {self.user}")
        elif word == "history":
            self._history(rest.strip() or self.release_channel)
        elif word in ("press", "tick"):
            self._press(rest.strip())
        elif word == "submit":
            self._submit(rest.strip())
        elif word == "wait":
            stopped = self.demo.settle() if self.demo.settle is not None else True
            if stopped is False:  # e.g. a throttled backfill still running after the wait's limit
                self._print("background work is still running; `wait` again, or see `/zdm backfill status`")
            else:
                self._print("background work has stopped")
        elif word == "release":
            show = self.demo.release_issue
            self._print(show() if show else "The release issue is on GitHub; the shell only shows the demo's copy.")
        elif word == "lighthouse":
            if not rest.strip() or self.demo.lighthouse is None:
                self._print("Give a Lighthouse JSON report, e.g. `lighthouse lighthouse/menu-perf-drop.json`.")
            else:
                self._print(self.demo.lighthouse(rest.strip()))
        elif word in ("clock", "advance", "traffic"):
            run_demo_control(self.demo, word, rest.strip(), say=self._print)
        elif word.startswith("/"):
            self.slash(word, rest)
        else:
            self._print(f"Unknown input `{word}`. Type `help`.")
        self.executor.wait_idle(WORK_TIMEOUT_S)
        if self.modal is not None and self.ask is not None:
            self._submit(self.ask(f"{self.modal.get('title', {}).get('text', 'Dialog')} — your answer: "))
        return True

    def slash(self, command: str, text: str) -> None:
        response_url = self.emulator.response_url(uuid.uuid4().hex)
        body = slash_command_body(text=text, user_id=self.user, response_url=response_url, command=command)
        self._show_ack(self._dispatch(body))

    def _press(self, number: str) -> None:
        index = whole_number(number)
        button = self.buttons.get(index) if index is not None else None
        if button is None:
            self._print(f"There is no button [{number[:20]}]. Buttons are shown in brackets next to messages.")
            return
        if button.checked is not None:
            self._tick(button)
            return
        if button.confirm and self.ask is not None:
            title = button.confirm.get("title", {}).get("text", "Are you sure?")
            text = button.confirm.get("text", {}).get("text", "")
            answer = self.ask(f"{title} {text} [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                self._print("Cancelled; nothing was sent.")
                return
        body = block_action_body(
            user_id=self.user,
            action_id=button.action_id,
            value=button.value,
            channel_id=button.channel,
            message_ts=button.message_ts,
            response_url=self.emulator.response_url(uuid.uuid4().hex),
        )
        self._show_ack(self._dispatch(body))

    def _tick(self, box: ShownButton) -> None:
        body = checkboxes_action_body(
            user_id=self.user,
            action_id=box.action_id,
            block_id=box.block_id,
            selected=toggled(box, self.emulator.messages),
            channel_id=box.channel,
            message_ts=box.message_ts,
            response_url=self.emulator.response_url(uuid.uuid4().hex),
            message_blocks=blocks_as_shown(box, self.emulator.messages),
        )
        self._show_ack(self._dispatch(body))

    def _submit(self, text: str) -> None:
        modal = self.modal
        if modal is None:
            self._print("No dialog is open. Dialogs open from buttons such as Deny.")
            return
        inputs = [b for b in modal.get("blocks", []) if b.get("type") == "input"]
        values = {b["block_id"]: {b["element"]["action_id"]: text} for b in inputs}
        response = self._dispatch(view_submission_body(user_id=self.user, view=modal, values=values))
        payload = json.loads(response.body) if response.body else {}
        if payload.get("response_action") == "errors":
            for error in payload.get("errors", {}).values():
                self._print(f"── dialog ──\n{error}")
            if self.ask is None:
                self.modal = None  # a script cannot retype; interactive users get asked again
            return
        self.modal = None
        self.executor.wait_idle(WORK_TIMEOUT_S)

    def _dispatch(self, body: str) -> Any:
        signed = sign(self.secret, body)
        return self.app.dispatch(BoltRequest(body=signed.body, headers={k: v for k, v in signed.headers.items()}))

    # --- output --------------------------------------------------------------------------------------------

    def _show_ack(self, response: Any) -> None:
        if response.status != 200:
            self._print(f"(Slack would show an error: HTTP {response.status} {response.body})")
            return
        if not response.body:
            return
        try:
            payload = json.loads(response.body)
        except ValueError:
            self._print(f"(only visible to you) {response.body}")
            return
        self._print_message("only visible to you", payload.get("text", ""), payload.get("blocks") or [], None)

    def _on_message(self, message: Message, event: str) -> None:
        if message.kind == "modal":
            self.modal = message.view
            hint = "" if self.ask is not None else " (answer with `submit <text>`)"
            labels = [b.get("label", {}).get("text", "") for b in message.blocks if b.get("type") == "input"]
            self._print("\n".join([f"── dialog: {message.text} ──", *labels]) + hint)
            return
        where = "only visible to you" if message.kind in ("response", "ephemeral") else message.channel
        if message.channel == channel_id(self.release_channel):
            where = f"{self.release_channel}"
        body = render_blocks(message.blocks, self.buttons.register, message) if message.blocks else [message.text]
        key = (message.channel, message.ts)
        before = self._shown.get(key)
        self._shown[key] = body
        if event == "updated" and before is not None:
            # In Slack the message changes in place; here only its changed lines are printed again.
            body = [line for line in body if line not in before]
            if not body:
                return
            where += " · updated"
        self._print("\n".join([f"── {where} ──", *body]))

    def _print_message(self, label: str, text: str, blocks: list[dict[str, Any]], message: Message | None) -> None:
        lines = [f"── {label} ──"]
        lines += render_blocks(blocks, self.buttons.register, message) if blocks else [text]
        self._print("\n".join(lines))

    def _history(self, channel: str) -> None:
        messages = self.emulator.in_channel(channel)
        if not messages:
            self._print(f"Nothing posted in {channel} yet.")
        for message in messages:
            self._print_message(channel, message.text, message.blocks, message)

    def outside(self, service: str, text: str) -> None:
        """Show what the bot sent to an outside service's local stand-in (a page, a ticket)."""
        self._print(f"── {service} ──\n{text}")

    def _print(self, text: str) -> None:
        # Slack shows escaped text as written: `&lt;!channel&gt;` appears as `<!channel>` and pings nobody
        shown = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        with self._lock:
            self.out.write(shown + "\n")
            self.out.flush()


def _prompted(lines: Iterable[str], prompt: bool) -> Iterable[str]:
    iterator = iter(lines)
    while True:
        if prompt:
            sys.stdout.write("zdm> ")
            sys.stdout.flush()
        try:
            yield next(iterator)
        except StopIteration:
            return
