"""``/readyz``: is this replica fit to take Slack traffic? The state database answers (short connect timeout,
so the probe never hangs), zdm's own migrations are current, and the process is not shutting down."""

from __future__ import annotations

import threading

import psycopg

from commands.adapters.store_pg import pending_state_migrations

CONNECT_TIMEOUT_S = 2  # libpq's smallest useful value
STATEMENT_TIMEOUT_MS = 2000


class Readiness:
    def __init__(self, state_url: str) -> None:
        self._state_url = state_url
        self.draining = threading.Event()

    def reason_not_ready(self) -> str | None:
        """None when ready; otherwise one short sentence for the probe's body and the logs."""
        if self.draining.is_set():
            return "shutting down"
        try:
            with psycopg.connect(
                self._state_url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            ) as conn:
                pending = pending_state_migrations(conn)
        except psycopg.Error as exc:
            return f"state database unavailable ({type(exc).__name__})"
        if pending:
            return "state migrations pending: " + ", ".join(f"{v:04d}" for v in pending)
        return None
