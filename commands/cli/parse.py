"""Reading a command's words against its ``Grammar``; every mistake is one ``UsageError`` sentence made from the
declaration (the usage and example of the subcommand it concerns)."""

from __future__ import annotations

import shlex
from collections.abc import Collection
from typing import Any

from commands.cli.grammar import Apart, Arg, Grammar, Option, Parsed, Ref, Sub, Switch
from commands.errors import UsageError
from commands.text import printable, slack_escape, whole_number


def read(grammar: Grammar[Any], text: str, *, apart: Collection[str] = ()) -> Parsed:
    words = _split(text, loose=grammar.loose_quotes)
    sub, words = _subcommand(grammar, words)
    values: dict[str, object] = {}
    switches, words = _flags(grammar, sub, words, values, apart=apart)
    ref, words = _ref(grammar, sub, words)
    words = _args(grammar, sub, words, values)
    rest = _rest(grammar, sub, words)
    return Parsed(sub.name, values, switches, ref, rest)


def _split(text: str, *, loose: bool) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        if loose:
            return text.split()
        raise UsageError(f"Could not read the arguments ({exc}); check your quotes.") from None


def _subcommand(grammar: Grammar[Any], words: list[str]) -> tuple[Sub, list[str]]:
    said = [word.lower() for word in words]
    for sub in sorted(grammar.subs, key=lambda s: -len(s.name.split())):
        named = sub.name.split()
        if said[: len(named)] == named:
            return sub, words[len(named) :]
    raise UsageError(grammar.use())


def _flags(
    grammar: Grammar[Any], sub: Sub, words: list[str], values: dict[str, object], *, apart: Collection[str]
) -> tuple[frozenset[str], list[str]]:
    """Options and switches wherever they stand; the words left over, in order."""
    for name in apart:
        if not any(isinstance(flag, Apart) and flag.name == name for flag in sub.flags):
            raise UsageError(_not_here(grammar, sub, name))
    for flag in sub.flags:
        if isinstance(flag, Apart) and flag.required and flag.name not in apart:
            raise UsageError(
                f"`{grammar.called(sub)}` needs `{flag.name} {flag.metavar}`, e.g. `{flag.name} {flag.example}`."
            )
    options = {name: flag for flag in sub.flags if isinstance(flag, Option) for name in (flag.name, *flag.aliases)}
    switches = {flag.name for flag in sub.flags if isinstance(flag, Switch)}
    given: set[str] = set()
    left: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        name, has_value, inline = word.partition("=")
        at += 1
        if word in switches:
            given.add(word)
        elif name in options:
            option = options[name]
            if option.takes_rest:
                value = " ".join(([inline] if has_value else []) + words[at:])
                at = len(words)
            elif has_value:
                value = inline
            else:
                value, at = (words[at], at + 1) if at < len(words) else ("", at)
            values[option.name] = _option_value(option, value)
        elif sub.rest is None and name in _elsewhere(grammar, sub):
            raise UsageError(_not_here(grammar, sub, name))
        else:
            left.append(word)
    return frozenset(given), left


def _elsewhere(grammar: Grammar[Any], sub: Sub) -> set[str]:
    """Option and switch names other subcommands of the command declare."""
    return {flag.name for other in grammar.subs if other is not sub for flag in other.flags} - {
        flag.name for flag in sub.flags
    }


def _option_value(option: Option, value: str) -> object:
    if option.takes_rest:
        value = slack_escape(" ".join(value.split()))  # free text shown in Slack: no pings, no disguised links
        if not value:
            raise UsageError(option.needs())
        return value
    converted = option.convert(value)
    if converted is None or converted == "":
        raise UsageError(option.needs())
    return converted


def _ref(grammar: Grammar[Any], sub: Sub, words: list[str]) -> tuple[int | None, list[str]]:
    """The record number: the first word when free text follows, else any ``#`` word."""
    if sub.ref is None:
        return None, words
    candidates = words[:1] if sub.rest else words
    for at, word in enumerate(candidates):
        if word.startswith("#") or (sub.ref.bare and word.isascii() and word.isdigit()):
            return _number(sub.ref, word), words[:at] + words[at + 1 :]
    return None, words


def _number(ref: Ref, word: str) -> int:
    found = whole_number(word.removeprefix("#"))
    if found is None:
        raise UsageError(f"`{printable(word)}` is not a {ref.noun} number; write it like `#3`.")
    return found


def _args(grammar: Grammar[Any], sub: Sub, words: list[str], values: dict[str, object]) -> list[str]:
    """Positional arguments in order; the words after them (the free text, if the subcommand takes it)."""
    for arg in sub.args:
        if not words:
            if not (arg.optional or arg.absent_ok):
                raise UsageError(grammar.use() if not sub.name else _use(grammar, sub))
            values[arg.name] = None
            continue
        values[arg.name] = _arg_value(grammar, sub, arg, words.pop(0))
    return words


def _arg_value(grammar: Grammar[Any], sub: Sub, arg: Arg, word: str) -> object:
    value = arg.convert(word)
    if value is not None:
        return value
    if arg.invalid is not None:
        raise arg.invalid(word)
    if arg.hint:
        raise UsageError(f"`{printable(word)}` is not {arg.hint}; {_use(grammar, sub, lower=True)}")
    raise UsageError(f"Unexpected `{printable(word)}`; {_use(grammar, sub, lower=True)}")


def _rest(grammar: Grammar[Any], sub: Sub, words: list[str]) -> str:
    if sub.rest is None:
        if words:
            raise UsageError(_extra(grammar, sub, words))
        return ""
    text = slack_escape(" ".join(sub.rest.clean(" ".join(words)).split()))
    if len(text) > sub.rest.limit:
        raise UsageError(f"The {sub.rest.name} is too long ({len(text)} characters); keep it under {sub.rest.limit}.")
    return text


def _extra(grammar: Grammar[Any], sub: Sub, words: list[str]) -> str:
    where = f"`{grammar.called(sub)}`"
    if sub.takes_nothing:
        return f"{where} takes no arguments."
    if sub.ref is not None and not (sub.args or sub.flags):
        return f"{where} takes at most a {sub.ref.noun} number, e.g. `{grammar.called(sub)} #3`."
    return f"Unexpected `{printable(' '.join(words))}`; {_use(grammar, sub, lower=True)}"


def _not_here(grammar: Grammar[Any], sub: Sub, name: str) -> str:
    return f"`{printable(name)}` does not apply to `{grammar.called(sub)}`; {_use(grammar, sub, lower=True)}"


def _use(grammar: Grammar[Any], sub: Sub, *, lower: bool = False) -> str:
    said = f"Use `{grammar.prefix} {sub.usage}`, e.g. {grammar.example(sub)}."
    return said[0].lower() + said[1:] if lower else said
