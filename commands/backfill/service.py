"""Backfill service: ``/zdm backfill …``, the engine's runs, and the scheduler's low-traffic windows.

A run is executed by whichever zdm process holds its lock (the bot's scheduler starts one for every running run
nobody is executing), so a replica or a restart continues from the checkpoint after a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from commands.authz import require_role
from commands.backfill.args import parse_backfill_args
from commands.backfill.engine import BackfillEngine, Stats, unexpected
from commands.backfill.model import (
    BackfillRun,
    Progress,
    RunStatus,
    legacy_progress,
    next_window_start,
    window_open,
)
from commands.backfill.ports import BackfillRuns, EnvironmentDatabase
from commands.backfill.views import progress_card_lines, title
from commands.cards import Card
from commands.charts import SeriesLog, rate_chart
from commands.config import RunbookConfig
from commands.errors import UsageError
from commands.live_cards import show_card, stored_ref
from commands.ports import AuditEvent, AuditLog, Clock, JobFailures, Notifier, OutageCheck, RoleDirectory
from commands.queue.model import Kind
from commands.queue.ports import WorkQueue
from commands.text import printable

log = logging.getLogger(__name__)
STARTERS = ("dba", "platform_lead")
STOPPERS = ("oncall", "dba", "platform_lead")
WINDOW_REASON = "outside the low-traffic window"


@dataclass(frozen=True)
class BackfillPorts:
    clock: Clock
    runs: BackfillRuns
    checkpoints: Mapping[str, EnvironmentDatabase]  # per environment
    notifier: Notifier
    roles: RoleDirectory
    audit: AuditLog
    outage: OutageCheck  # tells "a database went away" (wait for it) from other errors
    failures: JobFailures | None = None
    queue: WorkQueue | None = None  # one piece of work per database at a time: a second start waits its turn


class BackfillService:
    def __init__(self, *, config: RunbookConfig, ports: BackfillPorts) -> None:
        self._config = config
        self._p = ports
        self._threads: dict[int, threading.Thread] = {}
        self._again: set[int] = set()  # runs launched while their thread was still stopping: it runs them again
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._speeds = SeriesLog()  # per run: rows/s and throttle, for the card's chart

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
            if not self._new_stretch(run, now):
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
        self._report(self._count(run), Progress(), None)
        self.tend()

    def _count(self, run: BackfillRun) -> BackfillRun:
        """The verification query at the start is the progress card's estimate of the rows to do."""
        if run.total is not None:
            return run
        total = self._p.checkpoints[run.env].scalar(self._config.backfill.jobs[run.job].verify_sql)
        self._p.runs.update(run.id, expect=tuple(RunStatus), total=int(total or 0))
        return self._p.runs.get(run.id) or run

    def get(self, run_id: int) -> BackfillRun | None:
        return self._p.runs.get(run_id)

    def latest(self, *, job: str | None, env: str) -> BackfillRun | None:
        """The newest run of ``job`` (the default job when None) on ``env``."""
        return self._p.runs.latest(job=job or self._config.backfill.default_job, env=env)

    def active_progress(self) -> list[tuple[BackfillRun, Progress]]:
        """Every running or paused run with its checkpoints summed (for the metrics endpoint)."""
        return [(run, self._progress(run)) for run in self._p.runs.active()]

    def card(self, run: BackfillRun) -> Card:
        progress = self._progress(run)
        return Card(title=title(run), lines=progress_card_lines(run, progress, None, self._p.clock.now()))

    # --- execution ---------------------------------------------------------------------------------------------

    def execute(self, run_id: int, *, wait_s: float = 0) -> BackfillRun | None:
        """Run the engine here until the run stops; None if another process is executing it (after waiting up to
        ``wait_s`` for it to stop, e.g. for the lock of a process that crashed to run out)."""
        with self._p.runs.exclusive(run_id, wait_s=wait_s) as mine:
            run = self._p.runs.get(run_id) if mine else None
            if run is None or run.status != RunStatus.RUNNING:
                return run
            job = self._config.backfill.jobs.get(run.job)
            if job is None or run.env not in self._p.checkpoints:
                why = f"job `{run.job}` or environment `{run.env}` is no longer configured in zdm.toml"
                self._p.runs.update(run_id, expect=(RunStatus.RUNNING,), status=RunStatus.PAUSED, reason=why)
                self._say(f"⏸ Backfill #{run_id} paused: its {why}.")
                return self._p.runs.get(run_id)
            try:
                self._count(run)
            except Exception as exc:  # e.g. a broken verify_sql: pause and say so, rather than retry silently
                if self._p.outage(exc):  # an outage: stay running; the next tick after it tries again
                    log.warning("backfill run %s waits for its database: %s", run_id, exc)
                    return run
                why = unexpected(exc, f"counting the rows of backfill run {run_id}")
                self._p.runs.update(run_id, expect=(RunStatus.RUNNING,), status=RunStatus.PAUSED, reason=why)
                self._say(f"⏸ Backfill #{run_id} paused: {why}.")
                return self._p.runs.get(run_id)
            engine = BackfillEngine(
                job=job,
                cfg=self._config.backfill.engine,
                checkpoints=self._p.checkpoints[run.env],
                runs=self._p.runs,
                clock=self._p.clock,
                report=self._report,
                outage=self._p.outage,
            )
            done = engine.run(run_id, halt=self._halt)
            if done.status == RunStatus.FAILED:
                self._failed(done)
            elif (
                done.status == RunStatus.PAUSED
                and done.reason
                and not done.reason.startswith((WINDOW_REASON, "paused by"))
            ):
                self._say(f"⏸ Backfill #{done.id} `{done.job}` paused: {done.reason}. Investigate before retrying; "
                          "`/zdm backfill resume` continues from the checkpoint.")  # fmt: skip
            return done

    def tend(self, now: datetime | None = None) -> None:
        """Scheduler job: open and close low-traffic windows, and make sure every running run is executing."""
        now = now or self._p.clock.now()
        for run in self._p.runs.active():
            env = self._config.backfill.environments.get(run.env)
            if env is None:
                continue
            is_open = window_open(env, now)
            if run.status == RunStatus.RUNNING and not is_open:
                nxt = next_window_start(env, now)
                reason = f"{WINDOW_REASON}; resumes at {nxt:%Y-%m-%d %H:%M} UTC"
                self._p.runs.update(
                    run.id,
                    expect=(RunStatus.RUNNING,),
                    status=RunStatus.PAUSED,
                    reason=reason,
                    runtime=run.runtime_at(now),
                    resumed_at=None,
                )
            elif run.status == RunStatus.PAUSED and is_open and (run.reason or "").startswith(WINDOW_REASON):
                if self._new_stretch(run, now):
                    self._launch(run.id)
            elif run.status == RunStatus.RUNNING:
                self._launch(run.id)

    def wait(self, timeout: float = 60) -> bool:
        """Wait (at most ``timeout`` in all) for this process's engine threads to stop; True if they did."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(deadline - time.monotonic(), 0.0))
        return not any(thread.is_alive() for thread in self._threads.values())

    def halt(self) -> None:
        """Stop executing here, without waiting: running batches commit with their checkpoints; runs stay running
        for another process (or the next start) to continue."""
        self._halt.set()

    def shutdown(self, timeout: float = 30) -> bool:
        self.halt()
        return self.wait(timeout)

    def _launch(self, run_id: int) -> None:
        if self._halt.is_set():
            return
        with self._lock:
            current = self._threads.get(run_id)
            if current is not None and current.is_alive():
                self._again.add(run_id)  # e.g. resumed while the paused engine was finishing its batch
                return
            thread = threading.Thread(
                target=self._execute_logged, args=(run_id,), name=f"backfill-{run_id}", daemon=True
            )
            self._threads[run_id] = thread
            thread.start()

    def _execute_logged(self, run_id: int) -> None:
        while True:
            self._execute_once(run_id)
            with self._lock:
                if run_id not in self._again or self._halt.is_set():
                    self._again.discard(run_id)
                    return
                self._again.discard(run_id)

    def _execute_once(self, run_id: int) -> None:
        try:
            self.execute(run_id)
        except Exception as exc:
            if not self._p.outage(exc):
                log.exception("backfill run %s stopped with an error", run_id)
                return
            log.warning("backfill run %s: database unavailable (%s); the next tick continues it", run_id, exc)

    # --- helpers -----------------------------------------------------------------------------------------------

    def _report(self, run: BackfillRun, progress: Progress, stats: Stats | None) -> None:
        now = self._p.clock.now()
        card = Card(title=title(run), lines=progress_card_lines(run, progress, stats, now))
        if stats is not None and run.status == RunStatus.RUNNING:
            self._speeds.add(run.id, now, rate=stats.rows_per_s, throttle=1.0 if stats.throttled else 0.0)
        rates, throttle = self._speeds.points(run.id, "rate"), self._speeds.points(run.id, "throttle")
        card = Card(card.title, card.lines, chart=rate_chart(title=f"Backfill #{run.id} speed", rates=rates,
                                                             throttle=throttle, now=now))  # fmt: skip
        shown = stored_ref(run.channel, run.message_ts)
        channel = self._config.channels.release
        ref = show_card(self._p.notifier, ref=shown, channel=channel, card=card, what=f"backfill #{run.id}")
        if ref != shown:
            self._p.runs.update(run.id, expect=tuple(RunStatus), channel=ref.channel, message_ts=ref.ts)

    def relink_cards(self) -> int:
        """After a restart: refresh the card of every running or paused run in place (re-posted if gone)."""
        runs = self._p.runs.active()
        for run in runs:
            self._report(run, self._progress(run), None)
        return len(runs)

    def _new_stretch(self, run: BackfillRun, now: datetime) -> bool:
        """Paused → running (a resume, or the window opening). The abort rules judge what happens from here on."""
        progress = self._progress(run)
        return self._p.runs.update(
            run.id,
            expect=(RunStatus.PAUSED,),
            status=RunStatus.RUNNING,
            reason=None,
            resumed_at=now,
            base_done=progress.done,
            base_failed=progress.failed,
            stretch_since=now,
        )

    def _progress(self, run: BackfillRun) -> Progress:
        job = self._config.backfill.jobs.get(run.job)
        if job is not None and job.legacy_sql is not None:
            return legacy_progress(run)
        return self._p.checkpoints[run.env].progress(run.id) if run.env in self._p.checkpoints else Progress()

    def _failed(self, run: BackfillRun) -> None:
        if self._p.failures is None:
            self._say(f"❌ Backfill #{run.id} `{run.job}` on `{run.env}` failed: {run.reason}.")
            return
        self._p.failures.report(
            what=f"Backfill `{run.job}` on `{run.env}`",
            where=f"run #{run.id}, from its last checkpoint",
            error=run.reason or "unknown",
            next_command=f"`/zdm backfill status #{run.id}`; fix the cause, then "
            f"`/zdm backfill start {run.env} {run.job}`",
        )

    def _say(self, text: str) -> None:
        try:
            self._p.notifier.post(self._config.channels.release, Card(title=text))
        except Exception:
            log.warning("could not post to %s: %s", self._config.channels.release, text)

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
