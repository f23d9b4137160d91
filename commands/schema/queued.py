"""A queued ``/zdm schema deploy`` (``commands.queue``): planned and requested when its turn comes, so its plan
sees what the deploys before it applied."""

from __future__ import annotations

from commands.queue.model import QueueItem
from commands.schema.args import parse_schema_args
from commands.schema.service import SchemaService


class QueuedSchemaDeploys:
    """The queue's starter for schema deploys: a deploy holds its database while it awaits approval or applies."""

    def __init__(self, service: SchemaService, *, recent: int = 20) -> None:
        self._service = service
        self._recent = recent

    def start_queued(self, item: QueueItem) -> tuple[int | None, str]:
        request = parse_schema_args(item.args)
        said = self._service.request_deploy(
            item.env, actor=item.requester, include_all=request.include_all, release=request.release
        )
        return self.find_started(item), said

    def find_started(self, item: QueueItem) -> int | None:
        """The deploy this item's start requested: on its environment, by its requester, since it was claimed."""
        if item.started_at is None:
            return None
        for deploy in self._service.recent_deploys(env=item.env, limit=self._recent):
            if deploy.requester == item.requester and deploy.requested_at >= item.started_at:
                return deploy.id
        return None

    def still_active(self, ref: int) -> bool:
        deploy = self._service.deploy(ref)
        return deploy is not None and deploy.status.active

    def after_start(self, ref: int) -> None:
        """Nothing: requesting the deploy posted its card."""
