"""The ports every stage shares, built once: pools, locks, the notifier, roles, audit, the flag backend, the KPI
source, the outbox and rollback log, GitHub. ``bot.stages`` builds each stage from them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool
from slack_sdk import WebClient

from bot import edges
from bot.local.standins import GitHubStandIn
from bot.settings import Settings
from bot.slack_files import SlackFileUploads
from bot.slack_io import SlackNotifier, SlackRoleDirectory
from commands.adapters.alerts_pg import FoldedJobFailures
from commands.adapters.backfill_pg import PgBackfillRuns
from commands.adapters.command_runner import ChildProcesses, SubprocessRunner, child_environment
from commands.adapters.exposure_pg import PgExposure
from commands.adapters.github import GitHubIssues
from commands.adapters.locks import FencedNotifier, PgLocks
from commands.adapters.outbox_pg import PgOutbox
from commands.adapters.readiness_probes import PathProgramFinder, PgRoutineLookup
from commands.adapters.repo_git import GitRepository
from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.adapters.squawk import SquawkLinter
from commands.adapters.state_pg import PgAuditLog, PgRollbackRepository
from commands.adapters.target_pg import PgTargetDatabase
from commands.config import RunbookConfig
from commands.outbox.model import OutboxEntry
from commands.outbox.service import OutboxLog, OutboxPorts, OutboxService
from commands.ports import Clock, FlagStore, KpiSource
from commands.readiness.service import ReadinessPorts, ReadinessService
from commands.rollback.log_delivery import RollbackLogDelivered
from commands.schema.release_delivery import ReleaseIssueDestination

ONCALL_POOL_SIZE = 4  # rollbacks' own state and target connections (the on-call lane has 4 workers)


@dataclass(frozen=True)
class Pools:
    state: ConnectionPool[Any]  # fenced: writes of a lock holder prove its lease
    target: ConnectionPool[Any]
    reader: ConnectionPool[Any]  # read-only sessions for SQL from zdm.toml (cohorts, KPI queries)
    oncall_state: ConnectionPool[Any]  # the on-call lane's own: rollbacks never wait for a connection
    oncall_target: ConnectionPool[Any]  # other work holds

    @classmethod
    def open(cls, state_url: str, target_url: str) -> Pools:
        return cls(
            state=edges.pool(state_url, "zdm-state", fenced=True),
            target=edges.pool(target_url, "zdm-target"),
            reader=edges.pool(target_url, "zdm-target-read", read_only=True),
            oncall_state=edges.pool(state_url, "zdm-oncall-state", max_size=ONCALL_POOL_SIZE, fenced=True),
            oncall_target=edges.pool(target_url, "zdm-oncall-target", max_size=ONCALL_POOL_SIZE),
        )

    def all(self) -> list[ConnectionPool[Any]]:
        return [self.state, self.target, self.reader, self.oncall_state, self.oncall_target]


@dataclass
class SharedPorts:
    settings: Settings
    config: RunbookConfig
    clock: Clock
    state_url: str
    target_url: str
    pools: Pools
    children: ChildProcesses  # smoke tests, flag CLI, squawk: killed with their descendants on shutdown
    runner: SubprocessRunner
    roles: SlackRoleDirectory
    target: PgTargetDatabase
    audit: PgAuditLog
    locks: PgLocks
    oncall_locks: PgLocks  # rollbacks' own
    rollback_repo: PgRollbackRepository  # reads by notes, cleanup and the shell
    exposure: PgExposure  # which tenants zdm turned the flag on for (and off again)
    oncall_exposure: PgExposure
    flags: FlagStore
    oncall_flags: FlagStore
    notifier: FencedNotifier  # a worker that lost its lock does not post
    failures: FoldedJobFailures
    issues: GitHubIssues | None
    github: GitHubStandIn | None  # local mode without a GitHub token: the demo's release issue lives here
    outbox: OutboxService  # rollback-log entries and notes: stored first, delivered by `deliver_outbox`
    delivered: list[Callable[[OutboxEntry], None]]  # told of each entry delivered (stages add their card updates)
    deploys: PgSchemaDeploys
    log_file: OutboxLog
    backfill_runs: PgBackfillRuns
    linter: SquawkLinter
    kpis: KpiSource
    repository: GitRepository | None
    readiness: ReadinessService
    backfill_urls: dict[str, str]  # each [backfill.environments] database (an unset variable: left out)
    schema_urls: dict[str, str]  # each [schema.environments] database
    closers: list[Callable[[], None]] = field(default_factory=list)


def build_shared(
    settings: Settings,
    config: RunbookConfig,
    *,
    clock: Clock,
    urls: tuple[str, str],
    slack: WebClient,
    local: bool,
) -> SharedPorts:
    """Every shared port, from the state and target database URLs and the Slack Web API client."""
    state_url, target_url = urls
    pools = Pools.open(state_url, target_url)
    children = ChildProcesses()
    runner = SubprocessRunner(children)
    lease_s, wait_s = settings.lock_lease_s, edges.POOL_WAIT_S
    locks = PgLocks(state_url, connect_wait_s=wait_s, lease_s=lease_s)
    oncall_locks = PgLocks(state_url, max_size=ONCALL_POOL_SIZE, connect_wait_s=wait_s, lease_s=lease_s)
    repo = PgRollbackRepository(pools.state, locks=locks)
    exposure, oncall_exposure = PgExposure(pools.state), PgExposure(pools.oncall_state)
    flags = edges.flag_store(config, pools.target, runner, target_url, exposure=exposure)
    # a worker that lost its lock does not post; charts on cards are uploaded (files:write)
    notifier = FencedNotifier(SlackNotifier(slack, uploads=SlackFileUploads(slack)), locks)
    issues, github = edges.issue_tracker(settings, config, local=local)
    destination, close_destination = edges.records_destination(settings, config, github)
    deploys = PgSchemaDeploys(pools.state, locks=locks)
    delivered: list[Callable[[OutboxEntry], None]] = [RollbackLogDelivered(repo=repo, notifier=notifier)]

    def on_delivered(entry: OutboxEntry) -> None:  # the card of the rollback or schema deploy the entry records
        for hook in delivered:
            hook(entry)

    outbox = OutboxService(
        ports=OutboxPorts(
            clock=clock,
            store=PgOutbox(pools.state),
            destination=ReleaseIssueDestination(others=destination, issues=issues, exclusive=deploys.exclusive),
            on_delivered=on_delivered,
        )
    )
    kpis, close_kpis = edges.kpi_source(config, pools.reader)
    repository = edges.repository(settings, config)
    schema_urls = edges.environment_urls(settings, "schema", config.schema_stage.environments, target_url)
    return SharedPorts(
        settings=settings, config=config, clock=clock, state_url=state_url, target_url=target_url, pools=pools,
        children=children, runner=runner, target=PgTargetDatabase(pools.target, reader=pools.reader),
        roles=SlackRoleDirectory(config.roles, slack, clock=clock, max_age_s=settings.role_cache_max_age_s),
        audit=PgAuditLog(pools.state), locks=locks, oncall_locks=oncall_locks, rollback_repo=repo,
        exposure=exposure, oncall_exposure=oncall_exposure, flags=flags,
        oncall_flags=edges.flag_store(config, pools.oncall_target, runner, target_url, exposure=oncall_exposure),
        notifier=notifier, issues=issues, github=github, outbox=outbox, delivered=delivered, deploys=deploys,
        failures=FoldedJobFailures(
            pools.state, notifier, clock, channel=config.channels.release, fold_for=config.alerts.fold_failures_for
        ),
        log_file=OutboxLog(outbox, path=config.rollback.log_path.as_posix(), clock=clock),
        backfill_runs=PgBackfillRuns(pools.state, locks=locks),
        linter=SquawkLinter(config.schema_stage.lint, children=children), kpis=kpis,
        repository=repository,
        readiness=readiness(
            config, flags=flags, runner=runner, pools=pools, target_url=target_url, repository=repository,
            schema_urls=schema_urls,
        ),
        backfill_urls=edges.environment_urls(settings, "backfill", config.backfill.environments, target_url),
        schema_urls=schema_urls,
        closers=[
            locks.close, oncall_locks.close, *(c.close for c in (issues,) if c),
            *([close_kpis] if close_kpis else []), *([close_destination] if close_destination else []),
        ],
    )  # fmt: skip


def readiness(
    config: RunbookConfig,
    *,
    flags: FlagStore,
    runner: SubprocessRunner,
    pools: Pools,
    target_url: str,
    repository: GitRepository | None,
    schema_urls: dict[str, str],
) -> ReadinessService:
    """Rollback readiness: ``to_regproc`` on the target database (and each schema environment's), the flag
    backend, and the smoke command as the rollback would run it (PATH and DATABASE_URL of its environment)."""
    child_env = {"DATABASE_URL": target_url}
    reader = pools.reader
    return ReadinessService(
        config=config,
        ports=ReadinessPorts(
            flags=flags,
            runner=runner,
            programs=PathProgramFinder(),
            target=PgRoutineLookup(reader.connection),
            environments={
                env: PgRoutineLookup(reader.connection) if url == target_url else PgRoutineLookup.from_url(url)
                for env, url in schema_urls.items()
            },
            child_env=child_env,
            path={**child_environment(), **child_env}.get("PATH"),
            repository=repository,
        ),
    )
