"""``/zdm notes <release>`` and ``/zdm archive [verify] <release>`` declared once: usage lines and typed requests."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Arg, Grammar, Parsed, Sub

RELEASE = Arg("release")  # checked against zdm.toml's releases by the service


@dataclass(frozen=True)
class ArchiveRequest:
    release: str
    verify: bool = False


def _release(parsed: Parsed) -> str:
    release = parsed.text(RELEASE.name)
    assert release is not None  # a required argument
    return release


NOTES_ARGS = Grammar("notes", (Sub("", "tenant-profiles", args=(RELEASE,)),), _release)
ARCHIVE_ARGS = Grammar(
    "archive",
    (Sub("", "tenant-profiles", args=(RELEASE,)), Sub("verify", "tenant-profiles", args=(RELEASE,))),
    lambda parsed: ArchiveRequest(_release(parsed), verify=parsed.sub == "verify"),
)
