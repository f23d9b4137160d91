"""A command runner (``commands.ports.CommandRunner``) that answers with a scripted result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from commands.ports import CommandResult


def lost_connection(exc: BaseException) -> bool:
    """The fakes' outage check (``commands.ports.OutageCheck``): a ``ConnectionError`` is the state database
    going away."""
    return isinstance(exc, ConnectionError)


@dataclass
class ScriptedRunner:
    exit_code: int = 0
    output: str = "all good"
    calls: list[tuple[list[str], Mapping[str, str] | None]] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> CommandResult:
        self.calls.append((list(argv), env))
        return CommandResult(tuple(argv), self.exit_code, self.output, 0.1)
