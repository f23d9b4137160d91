"""``/zdm schema …`` declared once: its subcommands, usage line and the typed request they parse to."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Apart, Arg, Grammar, Option, Parsed, Ref, Sub, Switch
from commands.text import whole_number


@dataclass(frozen=True)
class SchemaRequest:
    action: str
    env: str | None = None
    include_all: bool = False
    release: int | None = None
    deploy_id: int | None = None


def _issue_number(word: str) -> int | None:
    return whole_number(word.removeprefix("#"))


ENV = Arg("env", absent_ok=True)  # the service names zdm.toml's environments when it is missing or unknown
INCLUDE_ALL = Switch("--include-all")
RELEASE = Option("--release", "N", "the release issue number", "42", convert=_issue_number)
BREAK_GLASS = Apart("--break-glass", '"<reason>"', '"checklist item blocked by an outage"')


def _request(parsed: Parsed) -> SchemaRequest:
    return SchemaRequest(
        parsed.sub,
        env=parsed.text("env"),
        include_all=parsed.on(INCLUDE_ALL.name),
        release=parsed.number(RELEASE.name),
        deploy_id=parsed.ref,
    )


SCHEMA_ARGS = Grammar(
    "schema",
    (
        Sub("plan", "staging", args=(ENV,), flags=(INCLUDE_ALL,)),
        Sub("deploy", "staging --release 42", args=(ENV,), flags=(INCLUDE_ALL, RELEASE, BREAK_GLASS)),
        Sub("status", "staging #3", args=(Arg("env", optional=True),), ref=Ref("deploy")),
        Sub("cancel", "staging", args=(ENV,)),
    ),
    _request,
)


def parse_schema_args(text: str) -> SchemaRequest:
    """The words after ``/zdm schema`` (with any ``--break-glass "<reason>"`` already split off)."""
    return SCHEMA_ARGS.parse(text)
