"""Composition root: settings + zdm.toml → adapters → services. Nothing happens at import time."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, RetryHandler

from bot import edges, stages
from bot.embedded import (
    DEMO_DB,
    STATE_DB,
    EmbeddedPostgres,
    ensure_database,
    install_demo_app,
    start_embedded,
)
from bot.health import Readiness
from bot.local.emulator import BOT_TOKEN, SlackEmulator
from bot.local.standins import GitHubStandIn, PagerDutyStandIn
from bot.metrics import BackfillFigure, Metrics, StateFigures
from bot.settings import Settings
from bot.shared import SharedPorts, build_shared
from bot.slack_io import SlackRoleDirectory
from commands.adapters.alerts_pg import FoldedJobFailures
from commands.adapters.cleanup_pg import PgReleaseFacts
from commands.adapters.clock import SystemClock
from commands.adapters.command_runner import ChildProcesses
from commands.adapters.pagerduty import PagerDutyEvents
from commands.adapters.pg_errors import connection_lost
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.adapters.schema_pg import PgSchemaTarget
from commands.adapters.state_pg import PgAuditLog, PgRequestLedger, PgRollbackRepository
from commands.adapters.store_pg import current_role, migrate_state
from commands.adapters.target_pg import PgTargetDatabase
from commands.alerts.service import AlertService
from commands.backfill.service import BackfillService
from commands.breakglass.service import BreakGlassService
from commands.checklist.service import ChecklistService
from commands.cleanup.service import CleanupService
from commands.config import RunbookConfig, load_config
from commands.errors import LockLost
from commands.lighthouse.service import LighthouseService
from commands.outbox.service import OutboxService
from commands.ports import Clock
from commands.queue.service import QueueService
from commands.records.service import RecordsService
from commands.rollback.degraded import DegradedRollbacks
from commands.rollback.service import RollbackService
from commands.rollout.service import RolloutService
from commands.schema.service import SchemaService
from scheduler.jobs import job_table
from scheduler.runner import TickJob

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the Slack listeners, the shell and the scheduler are allowed to call."""

    config: RunbookConfig
    clock: Clock
    ledger: PgRequestLedger
    audit: PgAuditLog
    target: PgTargetDatabase
    rollbacks: RollbackService
    rollback_repo: PgRollbackRepository
    rollouts: RolloutService
    rollout_repo: PgRolloutRepository
    backfills: BackfillService
    schema: SchemaService
    alerts: AlertService
    failures: FoldedJobFailures
    roles: SlackRoleDirectory
    checklist: ChecklistService
    cleanup: CleanupService
    records: RecordsService

    def report_job_error(self, name: str, exc: Exception) -> bool:
        """A scheduled job raised: one folded message in the release channel (the same error every tick is one).
        A database outage is not posted (folding needs the database) and ends the tick: return True."""
        if connection_lost(exc):
            log.warning("scheduled job %s: database unavailable (%s)", name, type(exc).__name__)
            return True
        if isinstance(exc, LockLost):  # another replica took over this work and carries it on: nothing to post
            log.warning("scheduled job %s stopped: %s", name, exc)
            return False
        self.failures.report(
            what=f"Scheduled job `{name}`",
            where="the zdm scheduler",
            error=f"{type(exc).__name__}: {str(exc)[:300]}",
            next_command="the zdm logs have the traceback; the job runs again on the next tick",
        )
        return False

    lighthouse: LighthouseService
    outbox: OutboxService  # rollback-log entries and notes: stored first, delivered by `deliver_outbox`
    breakglass: BreakGlassService
    queue: QueueService  # one schema deploy, backfill or schema rollback per database at a time
    degraded_rollbacks: DegradedRollbacks | None = None  # `/zdm rollback tenant` while the state database is down

    def scheduled_jobs(self) -> dict[str, TickJob]:
        """What the metronome runs every tick (each job takes ``now``)."""
        return job_table(
            ledger=self.ledger, rollbacks=self.rollbacks, rollouts=self.rollouts, backfills=self.backfills,
            schema=self.schema, alerts=self.alerts, lighthouse=self.lighthouse, outbox=self.outbox,
            breakglass=self.breakglass, queue=self.queue, degraded=self.degraded_rollbacks,
        )  # fmt: skip

    def state_figures(self) -> StateFigures:
        """Rollouts by state, the rows of active backfills and each alert rule's state, for ``/metrics``."""
        backfills = [
            BackfillFigure(run.id, run.job, run.env, run.status.value, progress.done, progress.failed)
            for run, progress in self.backfills.active_progress()
        ]
        alerts = {state.rule: state.status.value for state in self.alerts.states()}
        return StateFigures(rollouts=self.rollout_repo.count_by_status(), backfills=backfills, alerts=alerts)


@dataclass
class Container:
    settings: Settings
    services: Services
    slack: WebClient
    signing_secret: str
    state_url: str
    target_url: str
    emulator: SlackEmulator | None = None
    github: GitHubStandIn | None = None  # local mode without a GitHub token: the demo's release issue lives here
    pagerduty: PagerDutyStandIn | None = None  # local mode without a routing key: pages land here
    embedded: EmbeddedPostgres | None = None
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness | None = None
    children: ChildProcesses = field(default_factory=ChildProcesses)
    schema_targets: dict[str, PgSchemaTarget] = field(default_factory=dict)  # for the start-up scratch sweep
    _pools: list[ConnectionPool[Any]] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def target_pool(self) -> ConnectionPool[Any]:
        return self._pools[1]

    def sweep_scratch_databases(self) -> None:
        """Drop the scratch databases interrupted schema plans left behind (on each environment's server)."""
        for target in self.schema_targets.values():
            target.sweep_scratch(now=self.services.clock.now())

    @property
    def local_mode(self) -> bool:
        return self.emulator is not None

    def close(self, *, timeout: float = 30) -> None:
        if killed := self.children.kill_all():
            log.warning("stopped %d child process group(s) still running (smoke tests, flag CLI, squawk)", killed)
        self.services.backfills.shutdown(timeout)
        for close in [*self._closers, *(pool.close for pool in self._pools)]:
            with suppress(Exception):
                close()
        if self.emulator:
            self.emulator.stop()
        for stand_in in (self.github, self.pagerduty):
            if stand_in:
                stand_in.stop()
        if self.embedded:
            self.embedded.stop()


def database_urls(settings: Settings, config: RunbookConfig) -> tuple[str, str, EmbeddedPostgres | None]:
    """Configured URLs as they are; whatever is missing comes from the embedded Postgres (demo app installed)."""
    if settings.state_database_url and settings.target_database_url:
        return settings.state_database_url, settings.target_database_url, None
    embedded = start_embedded(settings.data_dir)
    admin = embedded.url("postgres")
    state = settings.state_database_url
    if state is None:
        ensure_database(admin, STATE_DB)
        state = embedded.url(STATE_DB)
    target = settings.target_database_url
    if target is None:
        target = embedded.url(DEMO_DB)
        # Installed once, when the database is created; migrations added later go through `/zdm schema deploy`
        if ensure_database(admin, DEMO_DB):
            applied = install_demo_app(target, config.app.root)
            log.info("demo app installed: migrations %s", ", ".join(applied))
    return state, target, embedded


def build_container(
    settings: Settings, *, clock: Clock | None = None, config: RunbookConfig | None = None
) -> Container:
    """Settings and zdm.toml → the shared ports (built once) → each stage (one builder each) → the container."""
    config = config or load_config(settings.config_path)
    state_url, target_url, embedded = database_urls(settings, config)
    if settings.audit_tamper_proof:  # the migrator as the owner; the bot's own connections as the runtime role
        assert settings.state_owner_database_url is not None
        migrate_state(settings.state_owner_database_url, runtime_role=current_role(state_url))
    else:
        migrate_state(state_url)
    slack, secret, emulator = _slack(settings)
    local = emulator is not None
    s = build_shared(
        settings, config, clock=clock or SystemClock(), urls=(state_url, target_url), slack=slack, local=local
    )
    pager, pagerduty = edges.pager(settings, config, local=local)
    services, schema_targets = _services(s, pager)
    metrics = Metrics()
    metrics.watch_state(services.state_figures)
    return Container(
        settings=settings, services=services, slack=slack, signing_secret=secret, state_url=state_url,
        target_url=target_url, emulator=emulator, github=s.github, pagerduty=pagerduty, embedded=embedded,
        metrics=metrics, readiness=Readiness(state_url), children=s.children,
        schema_targets=schema_targets, _pools=s.pools.all(),
        _closers=[*s.closers, *([pager.close] if pager else [])],
    )  # fmt: skip


def _slack(settings: Settings) -> tuple[WebClient, str, SlackEmulator | None]:
    """The Slack Web API client and the signing secret; without Slack settings, a local emulator (local mode)."""
    emulator: SlackEmulator | None = None
    if settings.slack_configured:
        assert settings.slack_bot_token and settings.slack_signing_secret
        token, secret = (
            settings.slack_bot_token.get_secret_value(),
            settings.slack_signing_secret.get_secret_value(),
        )
        api_url = settings.slack_api_url or WebClient.BASE_URL
    else:
        emulator = SlackEmulator().start()
        token, secret, api_url = BOT_TOKEN, secrets.token_hex(16), emulator.api_url
    return WebClient(token=token, base_url=api_url, timeout=10, retry_handlers=slack_retries()), secret, emulator


def _services(s: SharedPorts, pager: PagerDutyEvents | None) -> tuple[Services, dict[str, PgSchemaTarget]]:
    queue = stages.queue_stage(s)
    checklist = stages.checklist_stage(s)
    rollout_repo = PgRolloutRepository(s.pools.state, locks=s.locks)
    rollouts = stages.rollout_stage(s, checklist=checklist, repo=rollout_repo)
    backfills = stages.backfill_stage(s, queue=queue)
    deploys = s.deploys
    targets = stages.schema_targets(s)
    schema = stages.schema_stage(s, checklist=checklist, deploys=deploys, targets=targets, queue=queue)
    facts = PgReleaseFacts(s.pools.state, rollbacks=s.rollback_repo, deploys=deploys, runs=s.backfill_runs)
    cleanup = stages.cleanup_stage(s, facts=facts, held=rollout_repo)
    services = Services(
        config=s.config, clock=s.clock, ledger=PgRequestLedger(s.pools.state), audit=s.audit, target=s.target,
        rollbacks=stages.rollback_stage(s, queue=queue), rollback_repo=s.rollback_repo, rollouts=rollouts,
        rollout_repo=rollout_repo, backfills=backfills, schema=schema,
        alerts=stages.alert_stage(s, rollouts=rollouts, pager=pager), failures=s.failures, roles=s.roles,
        checklist=checklist, cleanup=cleanup, records=stages.records_stage(s, facts=facts),
        lighthouse=stages.lighthouse_stage(s), outbox=s.outbox, queue=queue,
        degraded_rollbacks=stages.degraded_rollbacks_stage(s),
        breakglass=stages.breakglass_stage(s, rollouts=rollouts, schema=schema, backfills=backfills, cleanup=cleanup),
    )  # fmt: skip
    return services, targets


def slack_retries() -> list[RetryHandler]:
    """Slack Web API calls retry a dropped connection, and a 429 after its ``Retry-After``. Not a 5xx: the call
    may have been carried out, and a second card would be worse than a missing one (the next update mends it)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]
