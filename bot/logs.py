"""Log set-up: plain text for a person at a terminal, or one JSON object per line for a log pipeline.

Every log record written while zdm handles a Slack request carries that request's reference (``ref``): the same
one a person sees in "zdm hit an internal error (ref …)". The reference lives in a context variable, set when a
request arrives and carried into the work done after the ack (see ``bot.listeners.guard``).
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

_ref: ContextVar[str | None] = ContextVar("zdm_ref", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def new_ref() -> str:
    return uuid.uuid4().hex[:8]


def current_ref() -> str | None:
    """The reference of the Slack request this code is working for, if any."""
    return _ref.get()


def start_request_ref() -> str:
    """A fresh reference for the Slack request now being handled (the caller scopes the context)."""
    ref = new_ref()
    _ref.set(ref)
    return ref


@contextmanager
def bound_ref(ref: str | None) -> Iterator[None]:
    """Log under ``ref`` for the duration (work after the ack runs on another thread)."""
    token = _ref.set(ref)
    try:
        yield
    finally:
        _ref.reset(token)


def _record_ref(record: logging.LogRecord) -> str | None:
    explicit = getattr(record, "ref", None)  # logger.info(..., extra={"ref": ref}) wins
    return str(explicit) if explicit else current_ref()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = _record_ref(record)
        if ref:
            entry["ref"] = ref
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ref = _record_ref(record)
        return f"{text} [ref {ref}]" if ref and f"ref {ref}" not in text else text


def configure_logging(*, fmt: Literal["text", "json"], level: int, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one writing ``fmt`` to ``stream`` (default stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))  # two INFO lines per tick otherwise
