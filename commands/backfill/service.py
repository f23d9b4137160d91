"""Backfill service: ``/zdm backfill …`` — who may start, pause, resume, cancel or re-size a run, and the rules a
start passes (a known job and environment, staging first); ``runner`` executes the runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from commands.authz import require_role
from commands.backfill.args import parse_backfill_args
from commands.backfill.model import BackfillRun, Progress, RunStatus, window_open
from commands.backfill.ports import BackfillPorts as BackfillPorts  # where the composition root finds it
from commands.backfill.runner import WINDOW_REASON, BackfillRunner
from commands.backfill.views import progress_card_lines, title
from commands.cards import Card
from commands.config import RunbookConfig
from commands.errors import UsageError
from commands.ports import AuditEvent
from commands.queue.model import Kind
from commands.text import printable

STARTERS = ("dba", "platform_lead")
STOPPERS = ("oncall", "dba", "platform_lead")


class BackfillService:
    def __init__(self, *, config: RunbookConfig, ports: BackfillPorts) -> None:
        self._config = config
        self._p = ports
        self._runner = BackfillRunner(config=config, ports=ports)

    # --- /zdm backfill -----------------------------------------------------------------------------------------

    def command(self, *, text: str, actor: str) -> tuple[str, Card | None, Callable[[], object] | None]:
        request = parse_backfill_args(text)
        if request.action == "start":
            assert request.env
            queue = self._p.queue
            if queue is None:
                run = self.start(
                    env=request.env, job=request.job, actor=actor, override=request.reason, max_speed=request.max_speed
                )
            else:  # one piece of work per database at a time: checked now, started now or queued
                name = self._check_start(env=request.env, job=request.job, actor=actor, override=request.reason)
                with queue.turn(kind=Kind.BACKFILL, env=request.env, requester=actor, args=text) as turn:
                    if turn.waiting:
                        item = turn.item.id
                        said = f"Backfill of `{name}` on `{request.env}` is queued as Q{item}: {turn.sentence}."
                        return said, None, lambda: queue.announce(item)
                    run = self.start(
                        env=request.env, job=request.job, actor=actor, override=request.reason,
                        max_speed=request.max_speed,
                    )  # fmt: skip
                    turn.ref = run.id
            env = self._config.backfill.environments[run.env]
            when = "now" if run.status == RunStatus.RUNNING else f"when its window opens ({env.window} {env.timezone})"
            return f"Backfill #{run.id} of `{run.job}` on `{run.env}` starts {when}.", None, lambda: self.announce(run)
        run = self._find(request.run_id)
        if request.action == "status":
            card = self.card(run)
            return card.title, card, None
        roles = STOPPERS if request.action in ("pause", "cancel") else STARTERS
        self._require(actor, roles, f"{request.action} backfills")
        said = self._control(run, request.action, actor=actor, batch_size=request.batch_size)
        now = self._p.clock.now()
        self._p.audit.record(AuditEvent(actor, f"backfill.{request.action}", run.job, "ok", {"run_id": run.id}), at=now)
        return said, None, self.tend

    def _control(self, run: BackfillRun, action: str, *, actor: str, batch_size: int | None) -> str:
        """pause / resume / cancel / set batch-size, each applied only from the states it makes sense in."""
        now, runs, engine = self._p.clock.now(), self._p.runs, self._config.backfill.engine
        if action == "set":
            assert batch_size
            size = max(engine.min_batch, min(engine.max_batch, batch_size))
            if not runs.update(run.id, expect=(RunStatus.RUNNING, RunStatus.PAUSED), batch_size=size):
                raise UsageError(f"Backfill #{run.id} is {run.status.value}; its batch size no longer matters.")
            clamp = "" if size == batch_size else f" (kept within {engine.min_batch:,}–{engine.max_batch:,})"
            return f"Backfill #{run.id} uses batches of {size:,} rows from its next batch on{clamp}."
        if action == "resume":
            if not self._runner.new_stretch(run, now):
                raise UsageError(f"Backfill #{run.id} is {run.status.value}, not paused; nothing to resume.")
            return f"Backfill #{run.id} resumes from its checkpoint."
        status = RunStatus.PAUSED if action == "pause" else RunStatus.CANCELLED
        done_word = status.value
        expect = (RunStatus.RUNNING,) if action == "pause" else (RunStatus.RUNNING, RunStatus.PAUSED)
        stopped = runs.update(
            run.id,
            expect=expect,
            status=status,
            reason=f"{done_word} by <@{actor}>",
            runtime=run.runtime_at(now),
            resumed_at=None,
        )
        if not stopped:
            raise UsageError(f"Backfill #{run.id} is {run.status.value}; it cannot be {done_word} now.")
        if status == RunStatus.PAUSED:
            return f"Backfill #{run.id} paused; its checkpoint is kept."
        return f"Backfill #{run.id} cancelled; rows already done stay done."

    def start(
        self,
        *,
        env: str,
        job: str | None,
        actor: str,
        override: str = "",
        break_glass: str | None = None,
        max_speed: bool = False,
    ) -> BackfillRun:
        """``override``: a platform lead passes the staging-first rule alone (kept for compatibility);
        ``break_glass``: anyone who may start backfills passes it once a second person confirmed;
        ``max_speed`` skips the latency-targeted throttle (every worker flat out): dba and platform leads."""
        name = self._check_start(env=env, job=job, actor=actor, override=override, break_glass=break_glass)
        environment = self._config.backfill.environments[env]
        now = self._p.clock.now()
        is_open = window_open(environment, now)
        reason = None if is_open else f"{WINDOW_REASON} ({environment.window} {environment.timezone})"
        run = self._p.runs.create(
            BackfillRun(
                id=0,
                job=name,
                env=env,
                status=RunStatus.RUNNING if is_open else RunStatus.PAUSED,
                started_by=actor,
                created_at=now,
                resumed_at=now if is_open else None,
                reason=reason,
                max_speed=max_speed,
            )
        )
        detail = {
            "run_id": run.id,
            "env": env,
            "override": override or None,
            "break_glass": break_glass,
            "max_speed": max_speed,
        }
        self._p.audit.record(AuditEvent(actor, "backfill.start", name, "ok", detail), at=now)
        return run

    def _check_start(
        self, *, env: str, job: str | None, actor: str, override: str = "", break_glass: str | None = None
    ) -> str:
        """Who asks, which job and environment, and the staging-first rule; the job's name."""
        self._require(actor, STARTERS, "start backfills")
        settings = self._config.backfill
        name = job or settings.default_job
        if name is None or name not in settings.jobs:
            known = ", ".join(settings.jobs) or "none configured"
            shown = printable(env)
            raise UsageError(f"Name a backfill job from zdm.toml ({known}), e.g. `/zdm backfill start {shown} <job>`.")
        if env not in settings.environments or env not in self._p.checkpoints:
            known = ", ".join(settings.environments)
            raise UsageError(f"There is no environment `{printable(env)}` in zdm.toml; use one of {known}.")
        environment = settings.environments[env]
        if environment.requires_staging and not self._p.runs.latest(job=name, env="staging", status="verified"):
            if not override and not break_glass:
                raise UsageError(
                    f"`{name}` has not finished on staging yet; run `/zdm backfill start staging {name}` first, or "
                    'pass it with `--break-glass "<reason>"` (a platform lead confirms).'
                )
            if not break_glass:
                self._require(actor, ("platform_lead",), "override the staging-first rule")
        return name

    def announce(self, run: BackfillRun) -> None:
        """After the ack: count what there is to do (a full scan may take a while), post the card, start work."""
        self._runner.report(self._runner.count(run), Progress(), None)
        self.tend()

    def get(self, run_id: int) -> BackfillRun | None:
        return self._p.runs.get(run_id)

    def latest(self, *, job: str | None, env: str) -> BackfillRun | None:
        """The newest run of ``job`` (the default job when None) on ``env``."""
        return self._p.runs.latest(job=job or self._config.backfill.default_job, env=env)

    def active_progress(self) -> list[tuple[BackfillRun, Progress]]:
        """Every running or paused run with its checkpoints summed (for the metrics endpoint)."""
        return [(run, self._runner.progress(run)) for run in self._p.runs.active()]

    def card(self, run: BackfillRun) -> Card:
        progress = self._runner.progress(run)
        return Card(title=title(run), lines=progress_card_lines(run, progress, None, self._p.clock.now()))

    # --- execution (``runner``) -----------------------------------------------------------------------------------

    def execute(self, run_id: int, *, wait_s: float = 0) -> BackfillRun | None:
        """Run the engine here until the run stops; None if another process is executing it."""
        return self._runner.execute(run_id, wait_s=wait_s)

    def tend(self, now: datetime | None = None) -> None:
        """Scheduler job: open and close low-traffic windows, and make sure every running run is executing."""
        self._runner.tend(now)

    def wait(self, timeout: float = 600) -> bool:
        """Wait (at most ``timeout`` in all, 10 minutes unless told: a throttled run takes its time) for this
        process's engine threads to stop; True if they did."""
        return self._runner.wait(timeout)

    def halt(self) -> None:
        """Stop executing here, without waiting (runs stay running for another process or the next start)."""
        self._runner.halt()

    def shutdown(self, timeout: float = 30) -> bool:
        return self._runner.shutdown(timeout)

    def relink_cards(self) -> int:
        """After a restart: refresh the card of every running or paused run in place (re-posted if gone)."""
        return self._runner.relink_cards()

    def _find(self, run_id: int | None) -> BackfillRun:
        run = self._p.runs.get(run_id) if run_id is not None else self._p.runs.latest()
        if run is None:
            which = f"#{run_id}" if run_id is not None else "yet"
            raise UsageError(f"There is no backfill run {which}. Start one with `/zdm backfill start staging`.")
        return run

    def _require(self, actor: str, roles: tuple[str, ...], action: str) -> None:
        p = self._p
        require_role(
            p.roles, p.audit, p.clock, actor=actor, any_of=roles, action=action, audit_action="backfill.refused",
            subject=action,
        )  # fmt: skip
