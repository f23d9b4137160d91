"""Outside HTTP calls (GitHub, PagerDuty) with bounded retries: back off on 5xx and connection errors, and
honour ``Retry-After`` on 429 (and 503) instead of hammering a rate-limited API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRYABLE = {429, 500, 502, 503, 504}


def send_with_retry(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    attempts: int = 4,
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    idempotent: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """Send once, then retry retryable failures up to ``attempts`` times in all; return the last response
    (the caller decides what a non-2xx means) or raise the last transport error.

    ``idempotent=False`` (e.g. creating a GitHub issue) retries only what surely did not happen: a refused
    connection and 429. A 5xx or a read timeout may come after the server acted, so it is not repeated."""
    for attempt in range(1, attempts + 1):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if attempt == attempts or (not idempotent and not isinstance(exc, httpx.ConnectError)):
                raise
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
        else:
            retryable = response.status_code in RETRYABLE and (idempotent or response.status_code == 429)
            if not retryable or attempt == attempts:
                return response
            delay = retry_after_s(response) or min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
            delay = min(delay, max_delay_s)
        log.info("%s %s: retrying in %.1f s (attempt %d of %d)", method, url, delay, attempt + 1, attempts)
        sleep(delay)
    raise AssertionError("unreachable")


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), or GitHub's ``x-ratelimit-reset`` epoch."""
    value = response.headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None and response.headers.get("x-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None
