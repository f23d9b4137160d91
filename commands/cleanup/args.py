"""``/zdm cleanup plan <release>`` declared once: its usage line and the release it names."""

from __future__ import annotations

from commands.cli.grammar import Apart, Arg, Grammar, Parsed, Sub


def _release(parsed: Parsed) -> str:
    release = parsed.text("release")
    assert release is not None  # a required argument
    return release


BREAK_GLASS = Apart("--break-glass", '"<reason>"', '"KPI dip was the holiday sale"')
CLEANUP_ARGS = Grammar(
    "cleanup", (Sub("plan", "tenant-profiles", args=(Arg("release"),), flags=(BREAK_GLASS,)),), _release
)


def parse_cleanup_args(text: str) -> str:
    """The release of ``plan <release>`` (checked against zdm.toml by the service)."""
    return CLEANUP_ARGS.parse(text)
