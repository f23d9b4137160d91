"""The adapters at zdm's edges, each built from the settings and zdm.toml: connection pools, the flag backend, the
KPI source, GitHub, PagerDuty, the records' destination, the app repository and each environment's database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from psycopg_pool import ConnectionPool

from bot.local.standins import GitHubStandIn, PagerDutyStandIn
from bot.settings import Settings
from commands.adapters.command_runner import SubprocessRunner
from commands.adapters.exposure_pg import PgExposure
from commands.adapters.flags_command import CommandFlagStore
from commands.adapters.github import GitHubIssues
from commands.adapters.github_records import GitHubPullRequestDestination
from commands.adapters.kpi_prometheus import PrometheusKpiSource
from commands.adapters.kpi_sql import SqlKpiSource
from commands.adapters.locks import FencedPool
from commands.adapters.pagerduty import PagerDutyEvents
from commands.adapters.pool_check import check_without_round_trip
from commands.adapters.records_local import LocalFolderDestination
from commands.adapters.repo_git import GitRepository
from commands.adapters.schema_pg import PgSchemaTarget
from commands.adapters.target_pg import PgFlagStore
from commands.backfill.config import Environment as BackfillEnvironment
from commands.config import RunbookConfig
from commands.errors import ConfigError
from commands.outbox.ports import Destination
from commands.ports import FlagStore, KpiSource
from commands.schema.config import SchemaEnvironment

log = logging.getLogger(__name__)
# How long a caller waits for a pooled connection before PoolTimeout. Healthy, a connection is free within
# milliseconds; while a database is down this bounds how long a command or a scheduled job waits before it is told
# "database unavailable" (the pool keeps reconnecting in the background).
POOL_WAIT_S = 5.0


def pool(
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


def flag_store(
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


def kpi_source(config: RunbookConfig, reader_pool: ConnectionPool[Any]) -> tuple[KpiSource, Callable[[], None] | None]:
    """The rollout gates' KPI source from ``[kpi]``: SQL on the target database, or the Prometheus HTTP API."""
    if config.kpi.source == "prometheus":
        assert config.kpi.prometheus is not None  # the config validator requires the section
        source = PrometheusKpiSource(config.kpi.prometheus)
        return source, source.close
    return SqlKpiSource(reader_pool, query=config.rollout.gates.query), None


def schema_target(settings: Settings, url: str, env: SchemaEnvironment) -> PgSchemaTarget:
    """The environment's database; its clean bootstrap runs in the shadow database when one is configured."""
    shadow = settings.named_variable(env.shadow_database_url_env)
    return PgSchemaTarget(url, shadow_url=shadow, shadow_env=env.shadow_database_url_env)


def environment_urls(
    settings: Settings,
    kind: str,
    environments: Mapping[str, BackfillEnvironment | SchemaEnvironment],
    target_url: str,
) -> dict[str, str]:
    """Each environment's database URL: from the variable it names, else the target database. An environment
    whose variable is unset is left out (with a warning): commands naming it say so."""
    found: dict[str, str] = {}
    for name, env in environments.items():
        url = settings.named_variable(env.database_url_env) if env.database_url_env else target_url
        if url:
            found[name] = url
        else:
            log.warning("%s environment %s: %s is not set; it cannot be used", kind, name, env.database_url_env)
    return found


def issue_tracker(
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


def repository(settings: Settings, config: RunbookConfig) -> GitRepository | None:
    """``[app] repo``: schema plans and deploys read migrations at a commit of it; unset: the files in app.root."""
    if config.app.repo is None:
        return None
    token = settings.repo_token.get_secret_value() if settings.repo_token else None
    return GitRepository(
        url=config.app.repo, cache_dir=settings.repo_cache_dir or settings.data_dir / "repo", token=token
    )


def records_destination(
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


def pager(
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
