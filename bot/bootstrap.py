"""Composition root: settings + zdm.toml → adapters → services. Nothing happens at import time."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, RetryHandler

from bot.embedded import (
    DEMO_DB,
    STATE_DB,
    EmbeddedPostgres,
    ensure_database,
    install_demo_app,
    start_embedded,
)
from bot.emulator import BOT_TOKEN, SlackEmulator
from bot.health import Readiness
from bot.metrics import BackfillFigure, Metrics, StateFigures
from bot.queue_builder import build_queue
from bot.settings import Settings
from bot.slack_files import SlackFileUploads
from bot.slack_io import SlackNotifier, SlackRoleDirectory
from bot.standins import GitHubStandIn, PagerDutyStandIn
from commands.adapters.alerts_pg import FoldedJobFailures, PgAlertStore
from commands.adapters.backfill_pg import PgBackfillRuns, PgCheckpoints
from commands.adapters.breakglass_pg import PgBreakGlass
from commands.adapters.checklist_pg import PgChecklistTicks
from commands.adapters.cleanup_pg import PgCleanups, PgReleaseFacts
from commands.adapters.clock import SystemClock
from commands.adapters.command_runner import ChildProcesses, SubprocessRunner, child_environment
from commands.adapters.degraded_import_pg import PgRollbackImporter
from commands.adapters.exposure_pg import PgExposure
from commands.adapters.flags_command import CommandFlagStore
from commands.adapters.github import GitHubIssues
from commands.adapters.github_records import GitHubPullRequestDestination
from commands.adapters.journal_file import FileRollbackJournal
from commands.adapters.kpi_prometheus import PrometheusKpiSource
from commands.adapters.kpi_sql import SqlKpiSource
from commands.adapters.lighthouse_pg import PgLighthouseRuns
from commands.adapters.locks import FencedNotifier, FencedPool, PgLocks
from commands.adapters.outbox_pg import PgOutbox
from commands.adapters.pagerduty import PagerDutyEvents
from commands.adapters.pg_errors import connection_lost
from commands.adapters.pool_check import check_without_round_trip
from commands.adapters.readiness_probes import PathProgramFinder, PgRoutineLookup
from commands.adapters.records_local import LocalFolderDestination
from commands.adapters.repo_git import GitRepository
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.adapters.schema_pg import PgSchemaTarget
from commands.adapters.squawk import SquawkLinter
from commands.adapters.state_pg import PgAuditLog, PgRequestLedger, PgRollbackRepository
from commands.adapters.target_pg import PgFlagStore, PgTargetDatabase
from commands.alerts.service import AlertPorts, AlertService
from commands.backfill.breakglass import BackfillBreakGlass
from commands.backfill.config import Environment as BackfillEnvironment
from commands.backfill.queued import QueuedBackfills
from commands.backfill.service import BackfillPorts, BackfillService
from commands.breakglass.service import BreakGlassPorts, BreakGlassService
from commands.checklist.service import ChecklistPorts, ChecklistService
from commands.cleanup.breakglass import CleanupBreakGlass
from commands.cleanup.service import CleanupPorts, CleanupService
from commands.config import RunbookConfig, load_config
from commands.errors import ConfigError, LockLost
from commands.lighthouse.service import LighthousePorts, LighthouseService
from commands.outbox.model import OutboxEntry
from commands.outbox.ports import Destination
from commands.outbox.service import OutboxLog, OutboxPorts, OutboxService
from commands.ports import Clock, FlagStore, KpiSource
from commands.queue.model import Kind
from commands.queue.service import QueueService
from commands.readiness.service import ReadinessPorts, ReadinessService
from commands.records.service import RecordsPorts, RecordsService
from commands.rollback.degraded import DegradedPorts, DegradedRollbacks
from commands.rollback.log_delivery import RollbackLogDelivered
from commands.rollback.queued import QueuedSchemaRollbacks
from commands.rollback.service import TARGET_ENV, RollbackPorts, RollbackService
from commands.rollout.effects import RolloutPorts
from commands.rollout.service import RolloutService
from commands.schema.breakglass import SchemaBreakGlass
from commands.schema.config import SchemaEnvironment
from commands.schema.queued import QueuedSchemaDeploys
from commands.schema.release_delivery import ReleaseIssueDestination
from commands.schema.service import SchemaPorts, SchemaService
from commands.store.grants import current_role
from commands.store.migrator import migrate_state
from scheduler.jobs import purge_request_ledger
from scheduler.runner import TickJob

log = logging.getLogger(__name__)
# How long a caller waits for a pooled connection before PoolTimeout. Healthy, a connection is free within
# milliseconds; while a database is down this bounds how long a command or a scheduled job waits before it is told
# "database unavailable" (the pool keeps reconnecting in the background).
POOL_WAIT_S = 5.0
ONCALL_POOL_SIZE = 4  # rollbacks' own state and target connections (the on-call lane has 4 workers)


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
        return {
            # rollbacks run while the state database was down, written to it once it answers: first, so a flip in
            # the same tick already holds the tenant out
            "replay_degraded_rollbacks": self._replay_degraded,
            "purge_request_ledger": purge_request_ledger(self.ledger),
            # rollbacks interrupted by a crash, and decisions recorded while another worker was busy
            "resume_rollbacks": lambda _now: self.rollbacks.resume_unfinished(),
            # prompts, reminders, KPI watching, unfinished flips; returns the next wake-up
            "advance_rollouts": self.rollouts.advance_due,
            # low-traffic windows, and running backfills nobody is executing (after a crash)
            "tend_backfills": self.backfills.tend,
            # schema deploys a crash left half-applied (each file is atomic; the history says where it stopped)
            "resume_schema_deploys": lambda _now: self.schema.resume_unfinished(),
            # alert rules with "for" semantics: page, #release card, pause rollouts; returns the next evaluation
            "evaluate_alerts": self.alerts.evaluate_due,
            # Lighthouse reports dropped into lighthouse.watch_dir
            "watch_lighthouse": self.lighthouse.poll_watch_dir,
            # recorded entries not delivered yet (GitHub was down): retried with backoff; returns the next retry
            "deliver_outbox": self.outbox.deliver_due,
            # break-glass actions a crash interrupted after their confirmation: said on the card, never re-run
            "settle_break_glass": lambda _now: self.breakglass.settle_interrupted(),
            # the per-database work queue: finish items whose work is over, start the next one where it is free
            "advance_queue": self.queue.advance,
        }

    def _replay_degraded(self, now: datetime) -> int:
        return self.degraded_rollbacks.replay(now) if self.degraded_rollbacks else 0

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
    config = config or load_config(settings.config_path)
    state_url, target_url, embedded = database_urls(settings, config)
    if settings.audit_tamper_proof:  # the migrator as the owner; the bot's own connections as the runtime role
        assert settings.state_owner_database_url is not None
        migrate_state(settings.state_owner_database_url, runtime_role=current_role(state_url))
    else:
        migrate_state(state_url)
    state_pool = _pool(state_url, "zdm-state", fenced=True)  # writes of a lock holder prove its lease
    target_pool = _pool(target_url, "zdm-target")
    reader_pool = _pool(target_url, "zdm-target-read", read_only=True)
    # The on-call lane's own connections: rollbacks never wait for a connection other work holds
    oncall_state_pool = _pool(state_url, "zdm-oncall-state", max_size=ONCALL_POOL_SIZE, fenced=True)
    oncall_target_pool = _pool(target_url, "zdm-oncall-target", max_size=ONCALL_POOL_SIZE)

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
    slack = WebClient(token=token, base_url=api_url, timeout=10, retry_handlers=slack_retries())

    clock = clock or SystemClock()
    children = ChildProcesses()  # smoke tests, flag CLI, squawk: killed with their descendants on shutdown
    runner = SubprocessRunner(children)
    roles = SlackRoleDirectory(config.roles, slack, clock=clock, max_age_s=settings.role_cache_max_age_s)
    target = PgTargetDatabase(target_pool, reader=reader_pool)
    audit = PgAuditLog(state_pool)
    locks = PgLocks(state_url, connect_wait_s=POOL_WAIT_S, lease_s=settings.lock_lease_s)
    oncall_locks = PgLocks(  # rollbacks' own
        state_url, max_size=ONCALL_POOL_SIZE, connect_wait_s=POOL_WAIT_S, lease_s=settings.lock_lease_s
    )
    repo = PgRollbackRepository(state_pool, locks=locks)  # reads by notes, cleanup and the shell
    exposure = PgExposure(state_pool)  # which tenants zdm turned the flag on for (and off again)
    oncall_exposure = PgExposure(oncall_state_pool)
    flags = _flag_store(config, target_pool, runner, target_url, exposure=exposure)
    oncall_flags = _flag_store(config, oncall_target_pool, runner, target_url, exposure=oncall_exposure)
    # a worker that lost its lock does not post; charts on cards are uploaded (files:write)
    notifier = FencedNotifier(SlackNotifier(slack, uploads=SlackFileUploads(slack)), locks)
    failures = FoldedJobFailures(
        state_pool, notifier, clock, channel=config.channels.release, fold_for=config.alerts.fold_failures_for
    )
    issues, github = _issue_tracker(settings, config, local=emulator is not None)
    destination, close_destination = _records_destination(settings, config, github)
    deploys = PgSchemaDeploys(state_pool, locks=locks)
    rollback_delivered = RollbackLogDelivered(repo=repo, notifier=notifier)

    def on_delivered(entry: OutboxEntry) -> None:  # the card of the rollback or schema deploy the entry records
        rollback_delivered(entry)
        schema.release_record_delivered(entry)

    outbox = OutboxService(
        ports=OutboxPorts(
            clock=clock,
            store=PgOutbox(state_pool),
            destination=ReleaseIssueDestination(others=destination, issues=issues, exclusive=deploys.exclusive),
            on_delivered=on_delivered,
        )
    )
    log_file = OutboxLog(outbox, path=config.rollback.log_path.as_posix(), clock=clock)
    backfill_urls = _environment_urls("backfill", config.backfill.environments, target_url)
    schema_urls = _environment_urls("schema", config.schema_stage.environments, target_url)
    queue = build_queue(  # one schema deploy, backfill or schema rollback per database at a time
        config, pool=state_pool, locks=locks, clock=clock, notifier=notifier, roles=roles, audit=audit,
        urls={Kind.BACKFILL: backfill_urls, Kind.SCHEMA_DEPLOY: schema_urls,
              Kind.SCHEMA_ROLLBACK: {TARGET_ENV: target_url}},
    )  # fmt: skip
    rollbacks_target = PgTargetDatabase(oncall_target_pool, reader=reader_pool)
    rollbacks = RollbackService(
        config=config,
        ports=RollbackPorts(
            clock=clock,
            flags=oncall_flags,
            target=rollbacks_target,
            runner=runner,
            notifier=notifier,
            roles=roles,
            audit=PgAuditLog(oncall_state_pool),
            log_file=log_file,
            repo=PgRollbackRepository(oncall_state_pool, locks=oncall_locks),
            failures=failures,
            exposure=oncall_exposure,
            queue=queue,
        ),
        smoke_env={"DATABASE_URL": target_url},
    )
    queue.register(Kind.SCHEMA_ROLLBACK, QueuedSchemaRollbacks(rollbacks, repo))
    backfill_runs = PgBackfillRuns(state_pool, locks=locks)
    linter = SquawkLinter(config.schema_stage.lint, children=children)
    kpis, close_kpis = _kpi_source(config, reader_pool)
    repository = _repository(settings, config)
    checklist = ChecklistService(
        config=config,
        ports=ChecklistPorts(
            clock=clock,
            ticks=PgChecklistTicks(state_pool),
            linter=linter,
            notifier=notifier,
            roles=roles,
            audit=audit,
            repository=repository,
        ),
    )
    readiness = _readiness(
        config, flags=flags, runner=runner, reader_pool=reader_pool, target_url=target_url, repository=repository
    )
    rollout_repo = PgRolloutRepository(state_pool, locks=locks)
    rollouts = RolloutService(
        config=config,
        ports=RolloutPorts(
            clock=clock,
            flags=flags,
            target=target,
            kpis=kpis,
            notifier=notifier,
            roles=roles,
            audit=audit,
            log_file=log_file,
            repo=rollout_repo,
            exposure=exposure,
            backfills=backfill_runs,
            checklist=checklist,
            readiness=readiness,
        ),
    )
    environments = {name: PgCheckpoints(url) for name, url in backfill_urls.items()}
    backfills = BackfillBreakGlass(
        config=config,
        ports=BackfillPorts(
            clock=clock,
            runs=backfill_runs,
            checkpoints=environments,
            notifier=notifier,
            roles=roles,
            audit=audit,
            failures=failures,
            queue=queue,
        ),
    )
    queue.register(Kind.BACKFILL, QueuedBackfills(backfills))
    schema_targets = {
        env: _schema_target(url, config.schema_stage.environments[env]) for env, url in schema_urls.items()
    }
    schema = SchemaBreakGlass(
        config=config,
        ports=SchemaPorts(
            clock=clock,
            targets=schema_targets,
            deploys=deploys,
            linter=linter,
            notifier=notifier,
            roles=roles,
            audit=audit,
            failures=failures,
            runner=runner,
            issues=issues,
            checklist=checklist,
            repository=repository,
            readiness=readiness,
            queue=queue,
            outbox=outbox,
        ),
    )
    queue.register(Kind.SCHEMA_DEPLOY, QueuedSchemaDeploys(schema))
    pager, pagerduty = _pager(settings, config, local=emulator is not None)
    alerts = AlertService(
        config=config,
        ports=AlertPorts(
            clock=clock,
            kpis=kpis,
            target=target,
            flags=flags,
            store=PgAlertStore(state_pool, locks=locks),
            pager=pager,
            notifier=notifier,
            rollouts=rollouts,
            audit=audit,
        ),
    )
    facts = PgReleaseFacts(state_pool, rollbacks=repo, deploys=deploys, runs=backfill_runs)
    cleanup = CleanupBreakGlass(
        config=config,
        ports=CleanupPorts(
            clock=clock,
            kpis=kpis,
            facts=facts,
            cleanups=PgCleanups(state_pool, locks=locks),
            target=target,
            flags=flags,
            exposure=exposure,
            held=rollout_repo,
            notifier=notifier,
            roles=roles,
            audit=audit,
        ),
    )
    services = Services(
        config=config,
        clock=clock,
        ledger=PgRequestLedger(state_pool),
        audit=audit,
        target=target,
        rollbacks=rollbacks,
        rollback_repo=repo,
        rollouts=rollouts,
        rollout_repo=rollout_repo,
        backfills=backfills,
        schema=schema,
        alerts=alerts,
        failures=failures,
        roles=roles,
        checklist=checklist,
        cleanup=cleanup,
        records=RecordsService(
            config=config,
            ports=RecordsPorts(clock=clock, facts=facts, audit=audit, outbox=outbox, repository=repository),
        ),
        lighthouse=LighthouseService(
            config=config,
            ports=LighthousePorts(
                runs=PgLighthouseRuns(state_pool, locks=locks), issues=issues, notifier=notifier, failures=failures
            ),
        ),
        outbox=outbox,
        queue=queue,
        breakglass=BreakGlassService(
            config=config,
            ports=BreakGlassPorts(
                clock=clock, repo=PgBreakGlass(state_pool, locks=locks), notifier=notifier, roles=roles, audit=audit
            ),
            actions={
                "rollout.approve": rollouts,
                "schema.deploy": schema,
                "backfill.start": backfills,
                "cleanup.plan": cleanup,
            },
        ),
        degraded_rollbacks=DegradedRollbacks(
            config=config,
            ports=DegradedPorts(
                clock=clock,
                flags=oncall_flags,
                target=rollbacks_target,
                runner=runner,
                roles=roles,
                journal=FileRollbackJournal(settings.data_dir / "rollback-journal.jsonl"),
                importer=PgRollbackImporter(oncall_state_pool),
            ),
            smoke_env={"DATABASE_URL": target_url},
        ),
    )
    metrics = Metrics()
    metrics.watch_state(services.state_figures)
    return Container(
        settings=settings,
        services=services,
        slack=slack,
        signing_secret=secret,
        state_url=state_url,
        target_url=target_url,
        emulator=emulator,
        github=github,
        pagerduty=pagerduty,
        embedded=embedded,
        metrics=metrics,
        readiness=Readiness(state_url),
        children=children,
        schema_targets=schema_targets,
        _pools=[state_pool, target_pool, reader_pool, oncall_state_pool, oncall_target_pool],
        _closers=[
            *(env.close for env in environments.values()),
            locks.close,
            oncall_locks.close,
            *(c.close for c in (issues, pager) if c),
            *([close_kpis] if close_kpis else []),
            *([close_destination] if close_destination else []),
        ],
    )


def slack_retries() -> list[RetryHandler]:
    """Slack Web API calls retry a dropped connection, and a 429 after its ``Retry-After``. Not a 5xx: the call
    may have been carried out, and a second card would be worse than a missing one (the next update mends it)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]


def _pool(
    url: str, name: str, *, read_only: bool = False, max_size: int | None = None, fenced: bool = False
) -> ConnectionPool[Any]:
    # SQL taken from zdm.toml (cohort selectors, KPI queries) runs on read-only sessions: the server refuses
    # any write.
    # Autocommit: each single statement is its own transaction (no extra COMMIT round trip); multi-statement
    # work opens ``conn.transaction()`` explicitly.
    kwargs: dict[str, Any] = {"autocommit": True}
    if read_only:
        kwargs["options"] = "-c default_transaction_read_only=on"
    pool: ConnectionPool[Any] = (FencedPool if fenced else ConnectionPool)(
        url,
        min_size=1,
        max_size=max_size or (6 if read_only else 12),
        name=name,
        open=False,
        kwargs=kwargs,
        check=check_without_round_trip,  # a connection broken by an outage is replaced, not handed out
        timeout=POOL_WAIT_S,
    )
    pool.open(wait=True, timeout=30)
    return pool


def _flag_store(
    config: RunbookConfig, pool: ConnectionPool[Any], runner: SubprocessRunner, target_url: str, *, exposure: PgExposure
) -> FlagStore:
    if config.flag.backend == "command":
        return CommandFlagStore(
            runner=runner,
            enable_argv=config.flag.enable_argv,
            disable_argv=config.flag.disable_argv,
            timeout_s=config.flag.command_timeout_s,
            cwd=config.app.root,
            env={"DATABASE_URL": target_url},
            recorded=exposure.enabled_among,
        )
    return PgFlagStore(pool, table=config.flag.table)


def _kpi_source(config: RunbookConfig, reader_pool: ConnectionPool[Any]) -> tuple[KpiSource, Callable[[], None] | None]:
    """The rollout gates' KPI source from ``[kpi]``: SQL on the target database, or the Prometheus HTTP API."""
    if config.kpi.source == "prometheus":
        assert config.kpi.prometheus is not None  # the config validator requires the section
        source = PrometheusKpiSource(config.kpi.prometheus)
        return source, source.close
    return SqlKpiSource(reader_pool, query=config.rollout.gates.query), None


def _readiness(
    config: RunbookConfig,
    *,
    flags: FlagStore,
    runner: SubprocessRunner,
    reader_pool: ConnectionPool[Any],
    target_url: str,
    repository: GitRepository | None,
) -> ReadinessService:
    """Rollback readiness: ``to_regproc`` on the target database (and each schema environment's), the flag
    backend, and the smoke command as the rollback would run it (PATH and DATABASE_URL of its environment)."""
    schema_urls = _environment_urls("schema", config.schema_stage.environments, target_url)
    child_env = {"DATABASE_URL": target_url}
    return ReadinessService(
        config=config,
        ports=ReadinessPorts(
            flags=flags,
            runner=runner,
            programs=PathProgramFinder(),
            target=PgRoutineLookup(reader_pool.connection),
            environments={
                env: PgRoutineLookup(reader_pool.connection) if url == target_url else PgRoutineLookup.from_url(url)
                for env, url in schema_urls.items()
            },
            child_env=child_env,
            path={**child_environment(), **child_env}.get("PATH"),
            repository=repository,
        ),
    )


def _schema_target(url: str, env: SchemaEnvironment) -> PgSchemaTarget:
    """The environment's database; its clean bootstrap runs in the shadow database when one is configured."""
    shadow = os.environ.get(env.shadow_database_url_env) if env.shadow_database_url_env else None
    return PgSchemaTarget(url, shadow_url=shadow or None, shadow_env=env.shadow_database_url_env)


def _environment_urls(
    kind: str, environments: Mapping[str, BackfillEnvironment | SchemaEnvironment], target_url: str
) -> dict[str, str]:
    """Each environment's database URL: from the variable it names, else the target database. An environment
    whose variable is unset is left out (with a warning): commands naming it say so."""
    found: dict[str, str] = {}
    for name, env in environments.items():
        url = os.environ.get(env.database_url_env) if env.database_url_env else target_url
        if url:
            found[name] = url
        else:
            log.warning("%s environment %s: %s is not set; it cannot be used", kind, name, env.database_url_env)
    return found


def _issue_tracker(
    settings: Settings, config: RunbookConfig, *, local: bool
) -> tuple[GitHubIssues | None, GitHubStandIn | None]:
    """GitHub with the configured token; in local mode without one, a local stand-in holding the release issue."""
    if settings.github_token is not None:
        api = settings.github_api_url or config.release.github_api_url
        return GitHubIssues(token=settings.github_token.get_secret_value(), api_url=api), None
    if not local:
        return None, None
    stand_in = GitHubStandIn()
    stand_in.start()
    if config.release.github_repo:
        for _ in range(config.release.issue or 1):
            stand_in.add_issue(
                config.release.github_repo,
                title="Release: tenant profiles",
                body="## Summary\n\nTenant profiles move to their own table.\n\n## DB Changes\n\n- none yet\n",
            )
    return GitHubIssues(token=stand_in.token, api_url=stand_in.url), stand_in


def _repository(settings: Settings, config: RunbookConfig) -> GitRepository | None:
    """``[app] repo``: schema plans and deploys read migrations at a commit of it; unset: the files in app.root."""
    if config.app.repo is None:
        return None
    token = settings.repo_token.get_secret_value() if settings.repo_token else None
    return GitRepository(
        url=config.app.repo, cache_dir=settings.repo_cache_dir or settings.data_dir / "repo", token=token
    )


def _records_destination(
    settings: Settings, config: RunbookConfig, stand_in: GitHubStandIn | None
) -> tuple[Destination, Callable[[], None] | None]:
    """``[delivery] github_repo``: commits + one pull request (the local GitHub stand-in in local mode without a
    token); unset: the files in ``app.root``."""
    spec = config.delivery
    if spec.github_repo is None:
        return LocalFolderDestination(config.app.root), None
    if settings.github_token is not None:
        token, api = settings.github_token.get_secret_value(), settings.github_api_url or config.release.github_api_url
    elif stand_in is not None:
        stand_in.add_repo(spec.github_repo, branch=spec.base)
        token, api = stand_in.token, stand_in.url
    else:
        raise ConfigError(f"[delivery] github_repo = {spec.github_repo!r} needs ZDM_GITHUB_TOKEN (one that may push).")
    github = GitHubPullRequestDestination(
        token=token, repo=spec.github_repo, branch=spec.branch, base=spec.base, title=spec.pr_title, api_url=api
    )
    return github, github.close


def _pager(
    settings: Settings, config: RunbookConfig, *, local: bool
) -> tuple[PagerDutyEvents | None, PagerDutyStandIn | None]:
    """PagerDuty with the configured routing key; in local mode without one, a local stand-in that shows pages."""
    source = config.alerts.pagerduty.source
    if settings.pagerduty_routing_key is not None:
        url = settings.pagerduty_events_url or config.alerts.pagerduty.events_url
        return PagerDutyEvents(
            routing_key=settings.pagerduty_routing_key.get_secret_value(), events_url=url, source=source
        ), None
    if not local:
        return None, None
    stand_in = PagerDutyStandIn()
    stand_in.start()
    return PagerDutyEvents(routing_key=stand_in.ROUTING_KEY, events_url=stand_in.events_url, source=source), stand_in
