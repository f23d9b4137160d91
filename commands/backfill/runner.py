"""Backfill runs executing in this process: one thread per run driving the engine, the progress card it keeps up to
date, and the scheduler's low-traffic windows.

A run is executed by whichever zdm process holds its lock (the bot's scheduler starts one for every running run
nobody is executing), so a replica or a restart continues from the checkpoint after a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from commands.backfill.engine import BackfillEngine
from commands.backfill.model import BackfillRun, Progress, RunStatus, legacy_progress, next_window_start, window_open
from commands.backfill.ports import BackfillPorts
from commands.backfill.stats import Stats, unexpected
from commands.backfill.views import progress_card_lines, title
from commands.cards import Card
from commands.charts import SeriesLog, rate_chart
from commands.config import RunbookConfig
from commands.live_cards import show_card, stored_ref

log = logging.getLogger(__name__)
WINDOW_REASON = "outside the low-traffic window"


class BackfillRunner:
    """Executes runs here, each on its own thread, and reports them on their card."""

    def __init__(self, *, config: RunbookConfig, ports: BackfillPorts) -> None:
        self._config = config
        self._p = ports
        self._threads: dict[int, threading.Thread] = {}
        self._again: set[int] = set()  # runs launched while their thread was still stopping: it runs them again
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._speeds = SeriesLog()  # per run: rows/s and throttle, for the card's chart

    def count(self, run: BackfillRun) -> BackfillRun:
        """The verification query at the start is the progress card's estimate of the rows to do."""
        if run.total is not None:
            return run
        total = self._p.checkpoints[run.env].scalar(self._config.backfill.jobs[run.job].verify_sql)
        self._p.runs.update(run.id, expect=tuple(RunStatus), total=int(total or 0))
        return self._p.runs.get(run.id) or run

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
                self.say(f"⏸ Backfill #{run_id} paused: its {why}.")
                return self._p.runs.get(run_id)
            try:
                self.count(run)
            except Exception as exc:  # e.g. a broken verify_sql: pause and say so, rather than retry silently
                if self._p.outage(exc):  # an outage: stay running; the next tick after it tries again
                    log.warning("backfill run %s waits for its database: %s", run_id, exc)
                    return run
                why = unexpected(exc, f"counting the rows of backfill run {run_id}")
                self._p.runs.update(run_id, expect=(RunStatus.RUNNING,), status=RunStatus.PAUSED, reason=why)
                self.say(f"⏸ Backfill #{run_id} paused: {why}.")
                return self._p.runs.get(run_id)
            engine = BackfillEngine(
                job=job,
                cfg=self._config.backfill.engine,
                checkpoints=self._p.checkpoints[run.env],
                runs=self._p.runs,
                clock=self._p.clock,
                report=self.report,
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
                self.say(f"⏸ Backfill #{done.id} `{done.job}` paused: {done.reason}. Investigate before retrying; "
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
                if self.new_stretch(run, now):
                    self._launch(run.id)
            elif run.status == RunStatus.RUNNING:
                self._launch(run.id)

    def wait(self, timeout: float = 600) -> bool:
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

    def report(self, run: BackfillRun, progress: Progress, stats: Stats | None) -> None:
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
            self.report(run, self.progress(run), None)
        return len(runs)

    def new_stretch(self, run: BackfillRun, now: datetime) -> bool:
        """Paused → running (a resume, or the window opening). The abort rules judge what happens from here on."""
        progress = self.progress(run)
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

    def progress(self, run: BackfillRun) -> Progress:
        job = self._config.backfill.jobs.get(run.job)
        if job is not None and job.legacy_sql is not None:
            return legacy_progress(run)
        return self._p.checkpoints[run.env].progress(run.id) if run.env in self._p.checkpoints else Progress()

    def _failed(self, run: BackfillRun) -> None:
        if self._p.failures is None:
            self.say(f"❌ Backfill #{run.id} `{run.job}` on `{run.env}` failed: {run.reason}.")
            return
        self._p.failures.report(
            what=f"Backfill `{run.job}` on `{run.env}`",
            where=f"run #{run.id}, from its last checkpoint",
            error=run.reason or "unknown",
            next_command=f"`/zdm backfill status #{run.id}`; fix the cause, then "
            f"`/zdm backfill start {run.env} {run.job}`",
        )

    def say(self, text: str) -> None:
        try:
            self._p.notifier.post(self._config.channels.release, Card(title=text))
        except Exception:
            log.warning("could not post to %s: %s", self._config.channels.release, text)
