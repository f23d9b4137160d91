"""One small builder per stage: its own adapters plus the shared ports (``bot.shared``) → the stage's service."""

from __future__ import annotations

from bot import edges
from bot.queue_builder import build_queue
from bot.shared import SharedPorts
from commands.adapters.alerts_pg import PgAlertStore
from commands.adapters.backfill_pg import PgCheckpoints
from commands.adapters.breakglass_pg import PgBreakGlass
from commands.adapters.checklist_pg import PgChecklistTicks
from commands.adapters.cleanup_pg import PgCleanups, PgReleaseFacts
from commands.adapters.degraded_import_pg import PgRollbackImporter
from commands.adapters.journal_file import FileRollbackJournal
from commands.adapters.lighthouse_pg import PgLighthouseRuns
from commands.adapters.pagerduty import PagerDutyEvents
from commands.adapters.pg_errors import connection_lost
from commands.adapters.rollout_pg import PgRolloutRepository
from commands.adapters.schema_deploys_pg import PgSchemaDeploys
from commands.adapters.schema_pg import PgSchemaTarget
from commands.adapters.state_pg import PgAuditLog, PgRollbackRepository
from commands.adapters.target_pg import PgTargetDatabase
from commands.alerts.service import AlertPorts, AlertService
from commands.backfill.breakglass import BackfillBreakGlass
from commands.backfill.queued import QueuedBackfills
from commands.backfill.service import BackfillPorts
from commands.breakglass.ports import GatedAction
from commands.breakglass.service import BreakGlassPorts, BreakGlassService
from commands.checklist.service import ChecklistPorts, ChecklistService
from commands.cleanup.breakglass import CleanupBreakGlass
from commands.cleanup.service import CleanupPorts
from commands.lighthouse.service import LighthousePorts, LighthouseService
from commands.queue.model import Kind
from commands.queue.service import QueueService
from commands.records.service import RecordsPorts, RecordsService
from commands.rollback.degraded import DegradedPorts, DegradedRollbacks
from commands.rollback.queued import QueuedSchemaRollbacks
from commands.rollback.service import TARGET_ENV, RollbackPorts, RollbackService
from commands.rollout.effects import RolloutPorts
from commands.rollout.service import RolloutService
from commands.schema.breakglass import SchemaBreakGlass
from commands.schema.queued import QueuedSchemaDeploys
from commands.schema.service import SchemaPorts


def queue_stage(s: SharedPorts) -> QueueService:
    """One schema deploy, backfill or schema rollback per database at a time; each stage registers its work."""
    urls = {
        Kind.BACKFILL: s.backfill_urls,
        Kind.SCHEMA_DEPLOY: s.schema_urls,
        Kind.SCHEMA_ROLLBACK: {TARGET_ENV: s.target_url},
    }
    return build_queue(
        s.config, pool=s.pools.state, locks=s.locks, clock=s.clock, notifier=s.notifier, roles=s.roles,
        audit=s.audit, urls=urls,
    )  # fmt: skip


def rollback_stage(s: SharedPorts, *, queue: QueueService) -> RollbackService:
    """Rollbacks run on the on-call lane's own pools, locks and flag store; the schema step jumps the queue."""
    pools = s.pools
    ports = RollbackPorts(
        clock=s.clock, flags=s.oncall_flags, target=PgTargetDatabase(pools.oncall_target, reader=pools.reader),
        runner=s.runner, notifier=s.notifier, roles=s.roles, audit=PgAuditLog(pools.oncall_state),
        log_file=s.log_file, repo=PgRollbackRepository(pools.oncall_state, locks=s.oncall_locks),
        outage=connection_lost, failures=s.failures, exposure=s.oncall_exposure, queue=queue,
    )  # fmt: skip
    rollbacks = RollbackService(config=s.config, ports=ports, smoke_env={"DATABASE_URL": s.target_url})
    queue.register(Kind.SCHEMA_ROLLBACK, QueuedSchemaRollbacks(rollbacks, s.rollback_repo))
    return rollbacks


def degraded_rollbacks_stage(s: SharedPorts) -> DegradedRollbacks:
    """``/zdm rollback tenant`` while the state database is down: journaled to a local file, recorded once it
    answers (on the on-call lane's connections, like every rollback)."""
    pools = s.pools
    ports = DegradedPorts(
        clock=s.clock, flags=s.oncall_flags, target=PgTargetDatabase(pools.oncall_target, reader=pools.reader),
        runner=s.runner, roles=s.roles,
        journal=FileRollbackJournal(s.settings.data_dir / "rollback-journal.jsonl"),
        importer=PgRollbackImporter(pools.oncall_state),
    )  # fmt: skip
    return DegradedRollbacks(config=s.config, ports=ports, smoke_env={"DATABASE_URL": s.target_url})


def checklist_stage(s: SharedPorts) -> ChecklistService:
    ports = ChecklistPorts(
        clock=s.clock, ticks=PgChecklistTicks(s.pools.state), linter=s.linter, notifier=s.notifier, roles=s.roles,
        audit=s.audit, repository=s.repository,
    )  # fmt: skip
    return ChecklistService(config=s.config, ports=ports)


def rollout_stage(s: SharedPorts, *, checklist: ChecklistService, repo: PgRolloutRepository) -> RolloutService:
    ports = RolloutPorts(
        clock=s.clock, flags=s.flags, target=s.target, kpis=s.kpis, notifier=s.notifier, roles=s.roles,
        audit=s.audit, log_file=s.log_file, repo=repo, exposure=s.exposure, backfills=s.backfill_runs,
        checklist=checklist, readiness=s.readiness,
    )  # fmt: skip
    return RolloutService(config=s.config, ports=ports)


def backfill_stage(s: SharedPorts, *, queue: QueueService) -> BackfillBreakGlass:
    """Each ``[backfill.environments]`` database keeps its checkpoints next to the rows it changes."""
    environments = {name: PgCheckpoints(url) for name, url in s.backfill_urls.items()}
    s.closers.extend(env.close for env in environments.values())
    ports = BackfillPorts(
        clock=s.clock, runs=s.backfill_runs, checkpoints=environments, notifier=s.notifier, roles=s.roles,
        audit=s.audit, outage=connection_lost, failures=s.failures, queue=queue,
    )  # fmt: skip
    backfills = BackfillBreakGlass(config=s.config, ports=ports)
    queue.register(Kind.BACKFILL, QueuedBackfills(backfills))
    return backfills


def schema_targets(s: SharedPorts) -> dict[str, PgSchemaTarget]:
    environments = s.config.schema_stage.environments
    return {env: edges.schema_target(s.settings, url, environments[env]) for env, url in s.schema_urls.items()}


def schema_stage(
    s: SharedPorts,
    *,
    checklist: ChecklistService,
    deploys: PgSchemaDeploys,
    targets: dict[str, PgSchemaTarget],
    queue: QueueService,
) -> SchemaBreakGlass:
    ports = SchemaPorts(
        clock=s.clock, targets=targets, deploys=deploys, linter=s.linter, notifier=s.notifier, roles=s.roles,
        audit=s.audit, failures=s.failures, runner=s.runner, issues=s.issues, checklist=checklist,
        repository=s.repository, readiness=s.readiness, queue=queue, outbox=s.outbox,
    )  # fmt: skip
    schema = SchemaBreakGlass(config=s.config, ports=ports)
    queue.register(Kind.SCHEMA_DEPLOY, QueuedSchemaDeploys(schema))
    s.delivered.append(schema.release_record_delivered)  # the deploy's card when its release-issue line lands
    return schema


def alert_stage(s: SharedPorts, *, rollouts: RolloutService, pager: PagerDutyEvents | None) -> AlertService:
    ports = AlertPorts(
        clock=s.clock, kpis=s.kpis, target=s.target, flags=s.flags, store=PgAlertStore(s.pools.state, locks=s.locks),
        pager=pager, notifier=s.notifier, rollouts=rollouts, audit=s.audit,
    )  # fmt: skip
    return AlertService(config=s.config, ports=ports)


def cleanup_stage(s: SharedPorts, *, facts: PgReleaseFacts, held: PgRolloutRepository) -> CleanupBreakGlass:
    ports = CleanupPorts(
        clock=s.clock, kpis=s.kpis, facts=facts, cleanups=PgCleanups(s.pools.state, locks=s.locks), target=s.target,
        flags=s.flags, exposure=s.exposure, held=held, notifier=s.notifier, roles=s.roles, audit=s.audit,
    )  # fmt: skip
    return CleanupBreakGlass(config=s.config, ports=ports)


def records_stage(s: SharedPorts, *, facts: PgReleaseFacts) -> RecordsService:
    ports = RecordsPorts(clock=s.clock, facts=facts, audit=s.audit, outbox=s.outbox, repository=s.repository)
    return RecordsService(config=s.config, ports=ports)


def lighthouse_stage(s: SharedPorts) -> LighthouseService:
    runs = PgLighthouseRuns(s.pools.state, locks=s.locks)
    ports = LighthousePorts(runs=runs, issues=s.issues, notifier=s.notifier, failures=s.failures)
    return LighthouseService(config=s.config, ports=ports)


def breakglass_stage(
    s: SharedPorts,
    *,
    rollouts: RolloutService,
    schema: SchemaBreakGlass,
    backfills: BackfillBreakGlass,
    cleanup: CleanupBreakGlass,
) -> BreakGlassService:
    """Break-glass confirms an action that a stage's gate refused; each stage carries the action out."""
    repo = PgBreakGlass(s.pools.state, locks=s.locks)
    ports = BreakGlassPorts(clock=s.clock, repo=repo, notifier=s.notifier, roles=s.roles, audit=s.audit)
    actions: dict[str, GatedAction] = {
        "rollout.approve": rollouts,
        "schema.deploy": schema,
        "backfill.start": backfills,
        "cleanup.plan": cleanup,
    }
    return BreakGlassService(config=s.config, ports=ports, actions=actions)
