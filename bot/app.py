"""``build_app(container)`` → a Bolt ``App`` with every listener registered. Wiring only."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse

from bot.bootstrap import Container
from bot.dedup import dedup_middleware
from bot.listeners import alerts, backfill, checklist, general, post, rollback, rollout, schema, zdm
from bot.listeners.guard import AfterAck, internal_error_text, new_ref
from bot.listeners.registry import CommandRegistry

log = logging.getLogger(__name__)


def build_app(container: Container, *, executor: ThreadPoolExecutor | None = None) -> App:
    services = container.services
    executor = executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="zdm-listener")
    app = App(
        client=container.slack,
        signing_secret=container.signing_secret,
        token_verification_enabled=False,  # checked lazily on first request, not at construction
        # Listeners ack and return; slow work goes to `after_ack` (see AfterAck for why not Bolt's own threading).
        process_before_response=True,
        listener_executor=executor,
        raise_error_for_unhandled_request=False,
    )
    app.use(dedup_middleware(services.ledger, services.clock))

    registry = CommandRegistry()
    general.register(registry)
    backfill.register(registry)
    alerts.register(registry)
    after_ack = AfterAck(executor)
    rollback.register(app, registry, services, after_ack)
    rollout.register(app, registry, services, after_ack)
    schema.register(app, registry, services, after_ack)
    checklist.register(app, registry, services, after_ack)
    post.register(app, registry, services, after_ack)
    zdm.register(app, registry, services, after_ack)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        ref = new_ref()
        log.error("unhandled error (ref %s) for %s", ref, body.get("type") or body.get("command"), exc_info=error)
        return BoltResponse(status=200, body=internal_error_text(ref))

    return app
