"""PagerDuty Events API v2 (httpx): ``trigger`` and ``resolve`` with a stable ``dedup_key``.

A trigger repeated with the same key while the incident is open is merged by PagerDuty, so a trigger retried after
a crash or a network error never pages twice; ``resolve`` with the key closes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from commands.adapters.http_retry import send_with_retry
from commands.errors import OutsideServiceFailed

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutyEvents:
    def __init__(
        self,
        *,
        routing_key: str,
        events_url: str = DEFAULT_EVENTS_URL,
        source: str = "zdm",
        timeout_s: float = 10.0,
        attempts: int = 4,
        base_delay_s: float = 0.5,
    ) -> None:
        self._key = routing_key
        self._url = events_url
        self._source = source
        self._client = httpx.Client(timeout=timeout_s, headers={"User-Agent": "zdm"})
        self._attempts, self._base_delay_s = attempts, base_delay_s

    def close(self) -> None:
        self._client.close()

    def trigger(
        self,
        *,
        dedup_key: str,
        summary: str,
        severity: str,
        at: datetime,
        component: str,
        group: str,
        details: Mapping[str, Any],
    ) -> None:
        self._send(
            {
                "routing_key": self._key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": summary[:1024],
                    "source": self._source,
                    "severity": severity,
                    "timestamp": at.isoformat(),
                    "component": component,
                    "group": group,
                    "class": "kpi",
                    "custom_details": dict(details),
                },
                "client": "zdm",
            }
        )

    def resolve(self, *, dedup_key: str) -> None:
        self._send({"routing_key": self._key, "event_action": "resolve", "dedup_key": dedup_key})

    def _send(self, event: dict[str, Any]) -> None:
        what = f"{event['event_action']} {event['dedup_key']}"
        try:
            response = send_with_retry(
                self._client, "POST", self._url, json=event, attempts=self._attempts, base_delay_s=self._base_delay_s
            )
        except httpx.HTTPError as exc:
            raise OutsideServiceFailed(service="PagerDuty", what=what, why=f"no answer ({type(exc).__name__})") from exc
        if response.status_code != 202:
            try:
                body = response.json()
                why = f"{body.get('message', '')} {'; '.join(map(str, body.get('errors', [])))}"
            except ValueError:
                why = response.text[:200]
            raise OutsideServiceFailed(service="PagerDuty", what=what, why=f"HTTP {response.status_code} {why}")
