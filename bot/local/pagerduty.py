"""A local stand-in for PagerDuty's Events API v2, validating events as PagerDuty does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.local.json_stand_in import JsonStandIn, Received, Reply


class PagerDutyStandIn(JsonStandIn):
    """PagerDuty's Events API v2 (``POST /v2/enqueue``): validates events as PagerDuty does and keeps alerts by
    ``dedup_key`` (a trigger on an open alert is merged; a trigger after a resolve opens a new one)."""

    name = "pagerduty-stand-in"
    ROUTING_KEY = "R0UT1NGKEYLOCALSTANDIN0000000000"  # 32 characters, like an integration key

    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, dict[str, Any]] = {}  # dedup_key -> {"status", "summary", "triggers", "opened"}
        self.subscribers: list[Callable[[dict[str, Any]], None]] = []

    @property
    def events_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    def answer(self, request: Received) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Reply(404, {"status": "not found"})
        event = request.body if isinstance(request.body, dict) else {}
        errors = _pagerduty_errors(event)
        if errors:
            return Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        key = str(event.get("dedup_key") or f"auto-{len(self.alerts) + 1}")
        alert = self.alerts.get(key)
        if event["event_action"] == "trigger":
            if alert is None or alert["status"] == "resolved":
                summary = event["payload"]["summary"]
                alert = {
                    "status": "triggered",
                    "summary": summary,
                    "triggers": 0,
                    "opened": 1 + (alert or {}).get("opened", 0),
                }
                self.alerts[key] = alert
            alert["triggers"] += 1
        elif alert is not None:
            alert["status"] = "resolved" if event["event_action"] == "resolve" else "acknowledged"
        for callback in list(self.subscribers):
            callback(event)
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})


def _pagerduty_errors(event: dict[str, Any]) -> list[str]:
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("'routing_key' must be a 32 character integration key")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' must be trigger, acknowledge or resolve")
    if action != "trigger" and not event.get("dedup_key"):
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' must be at most 255 characters")
    if action == "trigger":
        found = event.get("payload")
        payload: dict[str, Any] = found if isinstance(found, dict) else {}
        if not payload.get("summary") or len(str(payload["summary"])) > 1024:
            errors.append("'payload.summary' is required (at most 1024 characters)")
        if not payload.get("source"):
            errors.append("'payload.source' is required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' must be critical, error, warning or info")
    return errors
