"""A backfill run as data, and the pure decisions the engine makes between batches.

Batches are sized by time: each batch aims at ``target_batch_ms``, so row locks stay short whatever the rows cost.
The runbook's abort rules (error rate over 0.5 %, runtime over 30 minutes) and the low-traffic window *pause* a run
with its checkpoint; ``resume`` continues from there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from commands.backfill.config import EngineConfig, Environment


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    VERIFIED = "verified"  # every range done and the verification query returned 0
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in (RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class BackfillRun:
    id: int
    job: str
    env: str
    status: RunStatus
    started_by: str
    created_at: datetime
    runtime: timedelta = timedelta(0)  # time spent running, across resumes
    resumed_at: datetime | None = None  # when the current running stretch began
    reason: str | None = None  # why it is paused / failed / cancelled
    batch_size: int | None = None  # `/zdm backfill set batch-size N`
    total: int | None = None  # rows to do when it started (the verification query)
    channel: str | None = None
    message_ts: str | None = None
    base_done: int = 0  # progress when the current stretch (start, resume, window opening) began
    base_failed: int = 0
    stretch_since: datetime | None = None  # when it began: audit anomalies are counted from here
    max_speed: bool = False  # `--max-speed`: no throttle, every worker flat out (the configured pause only)

    def runtime_at(self, now: datetime) -> timedelta:
        """Time spent running in total, across resumes."""
        return self.runtime + self.stretch_at(now)

    def stretch_at(self, now: datetime) -> timedelta:
        """Time running since the last start or resume: what the runtime rule judges."""
        return now - self.resumed_at if self.resumed_at else timedelta(0)

    def since_stretch(self, progress: Progress) -> Progress:
        """Progress since the last start or resume: what the error-rate rule judges (a resume after fixing the
        cause must not be stopped again by the failures that caused the pause)."""
        return replace(progress, done=progress.done - self.base_done, failed=progress.failed - self.base_failed)


@dataclass(frozen=True)
class Progress:
    """The checkpoints of all workers of one run, summed."""

    done: int = 0
    failed: int = 0
    batches: int = 0
    ranges: int = 0
    finished: int = 0

    @property
    def error_rate(self) -> float:
        processed = self.done + self.failed
        return self.failed / processed if processed else 0.0

    @property
    def complete(self) -> bool:
        return self.ranges > 0 and self.finished == self.ranges


def legacy_progress(run: BackfillRun) -> Progress:
    """A legacy (one-statement) run has no checkpoint: all or nothing, done once verified. The card and
    ``/zdm backfill status`` both read it from here, so they agree."""
    done = (run.total or 0) if run.status == RunStatus.VERIFIED else 0
    finished = int(run.status == RunStatus.VERIFIED)
    return Progress(done=done, batches=finished, ranges=1, finished=finished)


def next_batch_size(current: int, took_ms: float, cfg: EngineConfig, *, target_ms: int | None = None) -> int:
    """Aim the next batch at ``target_ms`` (default ``target_batch_ms``; the throttle may ask for shorter ones):
    grow at most 2× and shrink at most 4× per step."""
    target = target_ms or cfg.target_batch_ms
    wanted = current * 2 if took_ms <= 0 else int(current * target / took_ms)
    wanted = max(current // 4, min(current * 2, wanted))
    return max(cfg.min_batch, min(cfg.max_batch, wanted))


def abort_reason(progress: Progress, audit_errors: int, runtime: timedelta, cfg: EngineConfig) -> str | None:
    """The runbook's abort rules; a reason means: pause with the checkpoint and ask people to investigate."""
    processed = progress.done + progress.failed
    rate = (progress.failed + audit_errors) / processed if processed else 0.0
    if processed and rate > cfg.error_rate_max:
        return (
            f"error rate {rate * 100:.2f} % is over {cfg.error_rate_max * 100:g} % "
            f"({progress.failed} failed rows, {audit_errors} audit anomalies, {processed} processed)"
        )
    if runtime > cfg.max_runtime:
        return f"runtime {_minutes(runtime)} is over {_minutes(cfg.max_runtime)}"
    return None


def load_decision(load: float | None, cfg: EngineConfig) -> str:
    """``run``, ``wait`` (throttle: no batch now, try again shortly) or ``stop`` (pause the run)."""
    if load is None:
        return "run"
    if cfg.load_stop_at is not None and load >= cfg.load_stop_at:
        return "stop"
    if cfg.load_throttle_at is not None and load >= cfg.load_throttle_at:
        return "wait"
    return "run"


def window_open(env: Environment, now: datetime) -> bool:
    hours = env.hours
    if hours is None:
        return True
    local = now.astimezone(ZoneInfo(env.timezone)).time()
    start, end = hours
    return start <= local < end if start < end else local >= start or local < end


def next_window_start(env: Environment, now: datetime) -> datetime:
    """The next moment the window opens (``now`` itself if it is open)."""
    hours = env.hours
    if hours is None or window_open(env, now):
        return now
    zone = ZoneInfo(env.timezone)
    local = now.astimezone(zone)
    start = local.replace(hour=hours[0].hour, minute=hours[0].minute, second=0, microsecond=0)
    if start <= local:
        start += timedelta(days=1)
    return start.astimezone(now.tzinfo)


def split_ranges(low: int | None, high: int | None, workers: int) -> list[tuple[int, int]]:
    """Disjoint ``(after, upto]`` key ranges covering ``[low, high]`` for the workers."""
    if low is None or high is None:
        return [(0, 0)]
    start = low - 1
    span = high - start
    parts = max(1, min(workers, span))
    bounds = [start + span * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


def eta(progress: Progress, total: int | None, rows_per_s: float) -> str:
    if not total or rows_per_s <= 0:
        return "—"
    left = max(total - progress.done, 0)
    return _minutes(timedelta(seconds=left / rows_per_s))


def _minutes(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
