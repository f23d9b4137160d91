"""``/zdm backfill …`` declared once: its subcommands, usage line and the typed request they parse to."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Apart, Arg, Grammar, Option, Parsed, Ref, Sub, Switch
from commands.text import whole_number


@dataclass(frozen=True)
class BackfillRequest:
    action: str
    env: str | None = None
    job: str | None = None
    run_id: int | None = None
    batch_size: int | None = None
    reason: str = ""
    max_speed: bool = False


def _positive(word: str) -> int | None:
    return whole_number(word) or None


RUN_NUMBER = Ref("run")
OVERRIDE = Option("--override", "REASON…", "a reason", "staging was restored from prod", takes_rest=True)
BREAK_GLASS = Apart("--break-glass", '"<reason>"', '"staging snapshot is prod data"')
BATCH_SIZE = Arg("N", _positive, hint="a positive whole number (at most 9 digits)", metavar="N")


def _request(parsed: Parsed) -> BackfillRequest:
    return BackfillRequest(
        parsed.sub.split()[0],
        env=parsed.text("env"),
        job=parsed.text("job"),
        run_id=parsed.ref,
        batch_size=parsed.number("N"),
        reason=parsed.text("--override") or "",
        max_speed=parsed.on("--max-speed"),
    )


BACKFILL_ARGS = Grammar(
    "backfill",
    (
        Sub(
            "start",
            "staging tenant_profiles --max-speed",
            args=(Arg("env"), Arg("job", optional=True)),
            flags=(Switch("--max-speed"), OVERRIDE, BREAK_GLASS),
        ),
        Sub("status", "#3", ref=RUN_NUMBER),
        Sub("pause", "#3", ref=RUN_NUMBER),
        Sub("resume", "#3", ref=RUN_NUMBER),
        Sub("cancel", "#3", ref=RUN_NUMBER),
        Sub("set batch-size", "500 #3", args=(BATCH_SIZE,), ref=RUN_NUMBER),
    ),
    _request,
)


def parse_backfill_args(text: str) -> BackfillRequest:
    """The words after ``/zdm backfill`` (with any ``--break-glass "<reason>"`` already split off)."""
    return BACKFILL_ARGS.parse(text)
