"""What the demo lets the shell steer — its clock, the scheduler tick and the synthetic traffic — and the shell
lines that steer them (``clock``, ``advance <dur>``, ``traffic <pct> [tenant]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from commands.rollout.config import format_duration, parse_duration


@dataclass
class DemoControls:
    """What the demo lets the shell steer: its clock, the scheduler tick and the synthetic traffic."""

    advance: Callable[[timedelta], datetime] | None = None
    tick: Callable[[], object] | None = None
    set_error_rate: Callable[[float, str | None], None] | None = None
    now: Callable[[], datetime] | None = None
    settle: Callable[[], object] | None = None
    release_issue: Callable[[], str] | None = None
    lighthouse: Callable[[str], str] | None = None
    catch_up: Callable[[], object] | None = None  # before each line: bring the demo's traffic up to the clock


def run_demo_control(demo: DemoControls, word: str, arg: str, *, say: Callable[[str], None]) -> None:
    """``clock``, ``advance <dur>`` or ``traffic <pct> [tenant]``; what it did (or why not) goes to ``say``
    as it happens, so a scheduler tick's posts follow the line that moved the clock."""
    if word == "traffic":
        if demo.set_error_rate is None:
            say("Synthetic traffic only runs in `zdm demo`.")
            return
        words = arg.split()
        try:
            percent = float(words[0].rstrip("%")) if words else -1.0
        except ValueError:
            percent = -1.0
        if not 0 <= percent <= 100 or len(words) > 2:
            say("Give the demo's error rate in percent, e.g. `traffic 5`, `traffic 0.2` or `traffic 5 pilot_a`.")
            return
        tenant = words[1] if len(words) == 2 else None
        demo.set_error_rate(percent / 100, tenant)
        say(f"demo traffic: {percent:g} % errors {f'for {tenant} ' if tenant else ''}from now on")
        return
    if word == "advance":
        if demo.advance is None:
            say("Only the demo's clock can be moved; `zdm shell` runs on real time.")
            return
        try:
            delta = parse_duration(arg)
        except ValueError as exc:
            say(f"{exc}.")
            return
        demo.advance(delta)
        say(f"clock moved forward {format_duration(delta)}")
        if demo.tick is not None:
            demo.tick()
    if demo.now is not None:
        say(f"clock: {demo.now():%Y-%m-%d %H:%M} UTC")
