"""``/zdm rollout …`` declared once: its subcommands, usage line and the typed request they parse to."""

from __future__ import annotations

from dataclasses import dataclass

from commands.cli.grammar import Apart, Arg, Grammar, Option, Parsed, Ref, Rest, Sub, matching
from commands.rollout.model import FLAG, MAX_REASON, SLUG


@dataclass(frozen=True)
class RolloutRequest:
    action: str
    rollout_id: int | None = None
    flag: str | None = None
    plan: str | None = None
    reason: str = ""
    slug: str | None = None


def _flag(word: str) -> str | None:
    return word if FLAG.match(word) and not word.startswith("-") else None


ROLLOUT_NUMBER = Ref("rollout", bare=True)
REASON = Rest("reason", limit=MAX_REASON)  # shown in the release channel as written: no pings, no disguised links
BREAK_GLASS = Apart("--break-glass", '"<reason>"', '"KPI source down during incident"', required=True)
PLAN = Option(
    "--plan", "NAME", "a plan name from zdm.toml", "runbook", convert=matching(r"[a-z0-9_-]{1,40}"), aliases=("-p",)
)


def _request(parsed: Parsed) -> RolloutRequest:
    return RolloutRequest(
        parsed.sub,
        rollout_id=parsed.ref,
        flag=parsed.text("flag"),
        plan=parsed.text("--plan"),
        reason=parsed.rest,
        slug=parsed.text("slug"),
    )


ROLLOUT_ARGS = Grammar(
    "rollout",
    (
        Sub("start", "checkout.v2 --plan runbook", args=(Arg("flag", _flag, optional=True),), flags=(PLAN,)),
        Sub("status", "#3", ref=ROLLOUT_NUMBER),
        Sub("list"),
        Sub("pause", "#3 waiting for the review", ref=ROLLOUT_NUMBER, rest=REASON),
        Sub("resume", "#3", ref=ROLLOUT_NUMBER),
        Sub("abort", "#3 checkout errors", ref=ROLLOUT_NUMBER, rest=REASON),
        Sub("include", "pilot_c", args=(Arg("slug", matching(SLUG.pattern)),)),
        Sub("approve", '#3 --break-glass "KPI source down"', ref=ROLLOUT_NUMBER, flags=(BREAK_GLASS,)),
    ),
    _request,
)


def parse_rollout_args(text: str) -> RolloutRequest:
    """The words after ``/zdm rollout`` (``approve`` only with its ``--break-glass`` split off: see
    ``parse_rollout_break_glass``)."""
    return ROLLOUT_ARGS.parse(text)


def parse_rollout_break_glass(text: str) -> RolloutRequest:
    """``approve [#id]``: the words of ``/zdm rollout approve [#id] --break-glass "<reason>"`` without the option."""
    return ROLLOUT_ARGS.parse(text, apart=(BREAK_GLASS.name,))
