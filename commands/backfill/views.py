"""What a backfill run looks like in Slack: one progress card per run, updated in place."""

from __future__ import annotations

from datetime import datetime

from commands.backfill.model import BackfillRun, Progress, RunStatus, eta
from commands.backfill.stats import Stats

HEADLINES = {
    RunStatus.RUNNING: "🔄 running",
    RunStatus.PAUSED: "⏸ paused",
    RunStatus.CANCELLED: "⛔ cancelled",
    RunStatus.VERIFIED: "✅ done and verified",
    RunStatus.FAILED: "❌ failed",
}


def progress_card_lines(run: BackfillRun, progress: Progress, stats: Stats | None, now: datetime) -> tuple[str, ...]:
    total = run.total if run.total is not None else None
    share = f" of ~{total:,}" if total else ""
    lines = [
        f"Rows done: *{progress.done:,}*{share} · failed: {progress.failed:,} "
        f"(error rate {progress.error_rate * 100:.2f} %) · batches: {progress.batches:,}",
        f"Ranges finished: {progress.finished}/{progress.ranges} · runtime: {_clock(run, now)}",
    ]
    if stats is not None and run.status == RunStatus.RUNNING:
        throttle = "throttled (database busy)" if stats.throttled else "not throttled"
        lines.append(
            f"Speed: {stats.rows_per_s:,.0f} rows/s · ETA {eta(progress, total, stats.rows_per_s)} · "
            f"batch size {stats.batch_size:,} · longest batch {stats.max_batch_ms:.0f} ms · {throttle}"
        )
        if stats.throttle:
            lines.append(f"Throttle: {stats.throttle}")
    if run.reason:
        advice = (
            " Investigate before retrying; `/zdm backfill resume` continues from the checkpoint."
            if (run.status == RunStatus.PAUSED and not run.reason.startswith("outside"))
            else ""
        )
        lines.append(f"*Why {run.status.value}:* {run.reason}.{advice}")
    return tuple(lines)


def title(run: BackfillRun) -> str:
    return f"Backfill #{run.id} `{run.job}` on `{run.env}`: {HEADLINES[run.status]}"


def _clock(run: BackfillRun, now: datetime) -> str:
    seconds = (
        int(run.runtime_at(now).total_seconds())
        if run.status == RunStatus.RUNNING
        else int(run.runtime.total_seconds())
    )
    return f"{seconds // 60} min {seconds % 60:02d} s"
