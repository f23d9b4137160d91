"""In-memory versions of zdm's ports, one per port, for fast tests of models and services.

Each fake keeps the rules its Postgres adapter keeps (``tests/contract/`` runs the same behavioural tests against
both), so a service tested on fakes behaves the same on the real adapters.
"""

from typing import TYPE_CHECKING

from tests.fakes.audit import MemoryAudit, MemoryRequestLedger
from tests.fakes.chat import MemoryNotifier, MemoryRoles
from tests.fakes.checklist import MemoryChecklistTicks
from tests.fakes.cleanups import MemoryCleanups, MemoryReleaseFacts
from tests.fakes.clock import FakeClock
from tests.fakes.flags import MemoryFlags
from tests.fakes.kpis import ScriptedKpis
from tests.fakes.outbox import MemoryOutbox
from tests.fakes.records import MemoryLogFile
from tests.fakes.rollbacks import MemoryRollbacks
from tests.fakes.rollouts import MemoryExposure, MemoryFlagGuard, MemoryRollouts
from tests.fakes.runner import ScriptedRunner, lost_connection
from tests.fakes.schema import MemoryFailures, MemorySchemaDeploys, MemorySchemaTarget, ScriptedLinter
from tests.fakes.target import MemoryTarget

if TYPE_CHECKING:
    from commands.checklist.ports import ChecklistTicks
    from commands.cleanup.ports import CleanupRepository
    from commands.outbox.ports import OutboxStore
    from commands.ports import (
        AuditLog,
        Clock,
        CommandRunner,
        FlagStore,
        JobFailures,
        KpiSource,
        Linter,
        Notifier,
        OutageCheck,
        ReleaseFacts,
        RequestLedger,
        RoleDirectory,
        TargetDatabase,
    )
    from commands.rollback.ports import RollbackLogFile, RollbackRepository
    from commands.rollout.exposure import ExposureRecord
    from commands.rollout.ports import RolloutRepository
    from commands.schema.ports import SchemaDeploys, SchemaTarget

__all__ = [
    "FakeClock",
    "MemoryAudit",
    "MemoryChecklistTicks",
    "MemoryCleanups",
    "MemoryExposure",
    "MemoryFailures",
    "MemoryFlagGuard",
    "MemoryFlags",
    "MemoryLogFile",
    "MemoryNotifier",
    "MemoryOutbox",
    "MemoryReleaseFacts",
    "MemoryRequestLedger",
    "MemoryRoles",
    "MemoryRollbacks",
    "MemoryRollouts",
    "MemorySchemaDeploys",
    "MemorySchemaTarget",
    "MemoryTarget",
    "ScriptedKpis",
    "ScriptedLinter",
    "ScriptedRunner",
    "lost_connection",
]

if TYPE_CHECKING:  # mypy proves each fake implements its port (nothing runs)
    _clock: Clock = FakeClock()
    _flags: FlagStore = MemoryFlags()
    _target: TargetDatabase = MemoryTarget()
    _runner: CommandRunner = ScriptedRunner()
    _notifier: Notifier = MemoryNotifier()
    _roles: RoleDirectory = MemoryRoles()
    _audit: AuditLog = MemoryAudit()
    _log_file: RollbackLogFile = MemoryLogFile()
    _rollbacks: RollbackRepository = MemoryRollbacks()
    _rollouts: RolloutRepository = MemoryRollouts()
    _exposure: ExposureRecord = MemoryExposure()
    _ticks: ChecklistTicks = MemoryChecklistTicks()
    _outbox: OutboxStore = MemoryOutbox()
    _ledger: RequestLedger = MemoryRequestLedger()
    _kpis: KpiSource = ScriptedKpis()
    _outage: OutageCheck = lost_connection
    _cleanups: CleanupRepository = MemoryCleanups()
    _facts: ReleaseFacts = MemoryReleaseFacts()
    _schema_deploys: SchemaDeploys = MemorySchemaDeploys()
    _schema_target: SchemaTarget = MemorySchemaTarget()
    _linter: Linter = ScriptedLinter()
    _failures: JobFailures = MemoryFailures()
