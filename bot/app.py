"""``build_app(container)`` → a Bolt ``App`` with every listener registered. Wiring only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.bootstrap import Container
from bot.dedup import dedup_middleware
from bot.executor import HEAVY, TrackingExecutor
from bot.lanes import HeavyLane
from bot.listeners import alerts, backfill, breakglass, checklist, general, post, queue, rollback, rollout, schema, zdm
from bot.listeners.guard import AfterAck, failure_text, request_ref
from bot.listeners.registry import CommandRegistry
from bot.listeners.screening import InputScreen
from bot.logs import start_request_ref
from bot.metrics import Metrics

log = logging.getLogger(__name__)


def build_app(container: Container, *, executor: TrackingExecutor | None = None) -> App:
    services = container.services
    executor = executor or TrackingExecutor()
    app = App(
        client=container.slack,
        signing_secret=container.signing_secret,
        token_verification_enabled=False,  # checked lazily on first request, not at construction
        # Listeners ack and return; slow work goes to `after_ack` (see AfterAck for why not Bolt's own threading).
        process_before_response=True,
        listener_executor=executor,
        raise_error_for_unhandled_request=False,
    )
    # one middleware, not three: Bolt builds every middleware's arguments for every request, before the ack
    app.use(_arrival(container.metrics, dedup_middleware(services.ledger, services.clock)))

    # rollbacks on their own lane; heavy work a few at a time, in line (bot.lanes)
    heavy = HeavyLane(workers=executor.lane_sizes.get(HEAVY, 1))
    registry = CommandRegistry(services.config.command_permissions, heavy=heavy)
    general.register(registry)
    backfill.register(registry)
    queue.register(registry)
    alerts.register(registry)
    after_ack = AfterAck(executor, InputScreen(services.audit, services.clock), executor.acks)
    # Bolt tries listeners in the order they were added, building each one's arguments to match it: `/zdm` first,
    # so a slash command does not pay for the fifteen button and dialog listeners before the ack.
    zdm.register(app, registry, services, after_ack)
    rollback.register(app, registry, services.rollbacks, after_ack)
    rollout.register(app, registry, services.rollouts, after_ack)
    schema.register(app, registry, services.schema, after_ack)
    checklist.register(app, registry, services.checklist, after_ack)
    post.register(app, registry, services.cleanup, after_ack)
    breakglass.register(app, services.breakglass, after_ack)
    registry.check_permissions(services.config.permissions)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        ref = request_ref()
        log.error("unhandled error (ref %s) for %s", ref, body.get("type") or body.get("command"), exc_info=error)
        return BoltResponse(status=200, body=failure_text(error, ref))

    return app


def _arrival(metrics: Metrics, deduplicate: Callable[..., BoltResponse | None]) -> Callable[..., BoltResponse | None]:
    """Every Slack request, in order: a fresh log reference (HTTP mode scopes it to the request: see
    ``bot.server``), so every log line about it carries its ref; counted by kind; then Slack's retries dropped
    (``bot.dedup``)."""

    def arrive(body: dict[str, Any], context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        start_request_ref()
        kind = body.get("type") or ("slash_command" if body.get("command") else "other")
        metrics.slack_requests.labels(kind=str(kind)).inc()
        return deduplicate(body, context, next)

    return arrive
