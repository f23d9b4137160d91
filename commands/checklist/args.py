"""``/zdm checklist <release>`` declared once: its usage line and the release it names."""

from __future__ import annotations

from commands.cli.grammar import Arg, Grammar, Parsed, Sub


def _release(parsed: Parsed) -> str:
    release = parsed.text("release")
    assert release is not None  # a required argument
    return release


CHECKLIST_ARGS = Grammar("checklist", (Sub("", "tenant-profiles", args=(Arg("release"),)),), _release)


def parse_checklist_args(text: str) -> str:
    """The release named (checked against zdm.toml by the service)."""
    return CHECKLIST_ARGS.parse(text)
