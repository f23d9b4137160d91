"""Composition root: settings + zdm.toml → adapters → services. Nothing happens at import time."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
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
from bot.settings import Settings
from bot.slack_files import SlackFileUploads
from bot.slack_io import SlackNotifier, SlackRoleDirectory
from bot.standins import GitHubStandIn, PagerDutyStandIn
from commands.adapters.alerts_pg import FoldedJobFailures, PgAlertStore
from commands.adapters.backfill_pg import PgBackfillRuns, PgCheckpoints
from commands.adapters.checklist_pg import PgChecklistTicks
from commands.adapters.cleanup_pg import PgCleanups, PgReleaseFacts
from commands.adapters.clock import SystemClock
from commands.adapters.command_runner import SubprocessRunner
from commands.adapters.flags_command import CommandFlagStore
from commands.adapters.github import GitHubIssues
from commands.adapters.github_records import GitHubPullRequestDestination
from commands.adapters.kpi_prometheus import PrometheusKpiSource
from commands.adapters.kpi_sql import SqlKpiSource
from commands.adapters.lighthouse_pg import PgLighthouseRuns
from commands.adapters.locks import PgLocks
from commands.adapters.outbox_pg import PgOutbox
from commands.adapters.pagerduty import PagerDutyEvents
from commands.adapters.pg_errors import connection_lost
from commands.adapters.records_local import LocalFolderDestination
from commands.adapters.repo_git import GitRepository
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.adapters.schema_pg import PgSchemaTarget
from commands.adapters.squawk import SquawkLinter
from commands.adapters.state_pg import PgAuditLog, PgRequestLedger, PgRollbackRepository
from commands.adapters.target_pg import PgFlagStore, PgTargetDatabase
from commands.alerts.service import AlertPorts, AlertService
from commands.backfill.config import Environment as BackfillEnvironment
from commands.backfill.service import BackfillPorts, BackfillService
from commands.checklist.service import ChecklistPorts, ChecklistService
from commands.cleanup.service import CleanupPorts, CleanupService
from commands.config import RunbookConfig, load_config
from commands.errors import ConfigError
from commands.lighthouse.service import LighthousePorts, LighthouseService
from commands.outbox.ports import Destination
from commands.outbox.service import OutboxLog, OutboxPorts, OutboxService
from commands.ports import Clock, FlagStore, KpiSource
from commands.records.service import RecordsPorts, RecordsService
from commands.rollback.log_delivery import RollbackLogDelivered
from commands.rollback.service import RollbackPorts, RollbackService
from commands.rollout.effects import RolloutPorts
from commands.rollout.service import RolloutService
from commands.schema.config import SchemaEnvironment
from commands.schema.service import SchemaPorts, SchemaService
from commands.store.migrator import migrate_state
from scheduler.jobs import purge_request_ledger
from scheduler.runner import TickJob

log = logging.getLogger(__name__)
# How long a caller waits for a pooled connection before PoolTimeout. Healthy, a connection is free within
# milliseconds; while a database is down this bounds how long a command or a scheduled job waits before it is told
# "database unavailable" (the pool keeps reconnecting in the background).
POOL_WAIT_S = 5.0


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
        self.failures.report(
            what=f"Scheduled job `{name}`",
            where="the zdm scheduler",
            error=f"{type(exc).__name__}: {str(exc)[:300]}",
            next_command="the zdm logs have the traceback; the job runs again on the next tick",
        )
        return False

    lighthouse: LighthouseService
    outbox: OutboxService  # rollback-log entries and notes: stored first, delivered by `deliver_outbox`

    def scheduled_jobs(self) -> dict[str, TickJob]:
        """What the metronome runs every tick (each job takes ``now``)."""
        return {
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
        }

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
    _pools: list[ConnectionPool[Any]] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def target_pool(self) -> ConnectionPool[Any]:
        return self._pools[1]

    @property
    def local_mode(self) -> bool:
        return self.emulator is not None

    def close(self, *, timeout: float = 30) -> None:
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
    migrate_state(state_url)
    state_pool = _pool(state_url, "zdm-state")
    target_pool = _pool(target_url, "zdm-target")
    reader_pool = _pool(target_url, "zdm-target-read", read_only=True)

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
    runner = SubprocessRunner()
    roles = SlackRoleDirectory(config.roles, slack)
    target = PgTargetDatabase(target_pool, reader=reader_pool)
    audit = PgAuditLog(state_pool)
    locks = PgLocks(state_url, connect_wait_s=POOL_WAIT_S)
    repo = PgRollbackRepository(state_pool, locks=locks)
    flags = _flag_store(config, target_pool, runner, target_url)
    notifier = SlackNotifier(slack, uploads=SlackFileUploads(slack))  # charts on cards: files:write
    failures = FoldedJobFailures(
        state_pool, notifier, clock, channel=config.channels.release, fold_for=config.alerts.fold_failures_for
    )
    issues, github = _issue_tracker(settings, config, local=emulator is not None)
    destination, close_destination = _records_destination(settings, config, github)
    outbox = OutboxService(
        ports=OutboxPorts(
            clock=clock,
            store=PgOutbox(state_pool),
            destination=destination,
            on_delivered=RollbackLogDelivered(repo=repo, notifier=notifier),
        )
    )
    log_file = OutboxLog(outbox, path=config.rollback.log_path.as_posix(), clock=clock)
    rollbacks = RollbackService(
        config=config,
        ports=RollbackPorts(
            clock=clock,
            flags=flags,
            target=target,
            runner=runner,
            notifier=notifier,
            roles=roles,
            audit=audit,
            log_file=log_file,
            repo=repo,
            failures=failures,
        ),
        smoke_env={"DATABASE_URL": target_url},
    )
    backfill_runs = PgBackfillRuns(state_pool, locks=locks)
    linter = SquawkLinter(config.schema_stage.lint)
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
            backfills=backfill_runs,
            checklist=checklist,
        ),
    )
    environments = {
        name: PgCheckpoints(url)
        for name, url in _environment_urls("backfill", config.backfill.environments, target_url).items()
    }
    backfills = BackfillService(
        config=config,
        ports=BackfillPorts(
            clock=clock,
            runs=backfill_runs,
            checkpoints=environments,
            notifier=notifier,
            roles=roles,
            audit=audit,
            failures=failures,
        ),
    )
    deploys = PgSchemaDeploys(state_pool, locks=locks)
    schema = SchemaService(
        config=config,
        ports=SchemaPorts(
            clock=clock,
            targets={
                env: _schema_target(url, config.schema_stage.environments[env])
                for env, url in _environment_urls("schema", config.schema_stage.environments, target_url).items()
            },
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
        ),
    )
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
    cleanup = CleanupService(
        config=config,
        ports=CleanupPorts(
            clock=clock,
            kpis=kpis,
            facts=facts,
            cleanups=PgCleanups(state_pool, locks=locks),
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
        _pools=[state_pool, target_pool, reader_pool],
        _closers=[
            *(env.close for env in environments.values()),
            locks.close,
            *(c.close for c in (issues, pager) if c),
            *([close_kpis] if close_kpis else []),
            *([close_destination] if close_destination else []),
        ],
    )


def slack_retries() -> list[RetryHandler]:
    """Slack Web API calls retry a dropped connection, and a 429 after its ``Retry-After``. Not a 5xx: the call
    may have been carried out, and a second card would be worse than a missing one (the next update mends it)."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]


def _pool(url: str, name: str, *, read_only: bool = False) -> ConnectionPool[Any]:
    # SQL taken from zdm.toml (cohort selectors, KPI queries) runs on read-only sessions: the server refuses
    # any write.
    # Autocommit: each single statement is its own transaction (no extra COMMIT round trip); multi-statement
    # work opens ``conn.transaction()`` explicitly.
    kwargs: dict[str, Any] = {"autocommit": True}
    if read_only:
        kwargs["options"] = "-c default_transaction_read_only=on"
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=6 if read_only else 12,
        name=name,
        open=False,
        kwargs=kwargs,
        check=ConnectionPool.check_connection,  # a connection broken by an outage is replaced, not handed out
        timeout=POOL_WAIT_S,
    )
    pool.open(wait=True, timeout=30)
    return pool


def _flag_store(
    config: RunbookConfig, pool: ConnectionPool[Any], runner: SubprocessRunner, target_url: str
) -> FlagStore:
    if config.flag.backend == "command":
        return CommandFlagStore(
            runner=runner,
            enable_argv=config.flag.enable_argv,
            disable_argv=config.flag.disable_argv,
            timeout_s=config.flag.command_timeout_s,
            cwd=config.app.root,
            env={"DATABASE_URL": target_url},
        )
    return PgFlagStore(pool, table=config.flag.table)


def _kpi_source(config: RunbookConfig, reader_pool: ConnectionPool[Any]) -> tuple[KpiSource, Callable[[], None] | None]:
    """The rollout gates' KPI source from ``[kpi]``: SQL on the target database, or the Prometheus HTTP API."""
    if config.kpi.source == "prometheus":
        assert config.kpi.prometheus is not None  # the config validator requires the section
        source = PrometheusKpiSource(config.kpi.prometheus)
        return source, source.close
    return SqlKpiSource(reader_pool, query=config.rollout.gates.query), None


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
