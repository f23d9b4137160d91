"""Commands declared once: each ``/zdm <command>`` is a ``Grammar`` of subcommands, and its usage line (``/zdm help``),
its parser and every "Use `/zdm …`" sentence come from that one declaration.

A subcommand (``Sub``) has positional arguments (``Arg``), options with a value (``Option``: ``--plan NAME``),
switches (``Switch``: ``--max-speed``), options split off before parsing (``Apart``: ``--break-glass "<reason>"``,
see ``commands.breakglass.model.split_break_glass``), an optional record number (``Ref``: ``#id``) and free text
(``Rest``: ``reason…``), shown in that order (options split off last). ``Grammar.parse`` reads the words
(``commands.cli.parse``) and builds the stage's typed request from them; bad input is one ``UsageError`` sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from commands.errors import UserError

T = TypeVar("T")
Convert = Callable[[str], object]  # the value of a word, or None when the word is not one


def any_word(word: str) -> str:
    return word


def matching(pattern: str) -> Convert:
    """A converter that keeps words matching ``pattern`` (whole word) and refuses the rest."""
    compiled = re.compile(pattern)
    return lambda word: word if compiled.fullmatch(word) else None


@dataclass(frozen=True)
class Arg:
    """A positional argument: ``<name>`` (``[name]`` when optional, or ``metavar`` as written)."""

    name: str
    convert: Convert = any_word
    optional: bool = False
    hint: str = ""  # what a valid value is ("a rollback number"), for the sentence when a word is not one
    invalid: Callable[[str], UserError] | None = None  # the stage's own sentence for a word that is not one
    metavar: str = ""
    absent_ok: bool = False  # shown as required, but None when absent: the command names the choices itself

    @property
    def shown(self) -> str:
        return self.metavar or (f"[{self.name}]" if self.optional else f"<{self.name}>")


@dataclass(frozen=True)
class Option:
    """``--name VALUE`` (also ``--name=VALUE``); ``takes_rest``: the value is every word after it, shown escaped."""

    name: str
    metavar: str
    hint: str  # "a plan name from zdm.toml"
    example: str  # "runbook"
    convert: Convert = any_word
    aliases: tuple[str, ...] = ()
    takes_rest: bool = False

    @property
    def shown(self) -> str:
        return f"[{self.name} {self.metavar}]"

    def needs(self) -> str:
        return f"`{self.name}` needs {self.hint}, e.g. `{self.name} {self.example}`."


@dataclass(frozen=True)
class Switch:
    name: str

    @property
    def shown(self) -> str:
        return f"[{self.name}]"


@dataclass(frozen=True)
class Apart:
    """An option the caller splits off the text before parsing (``split_break_glass``) and names in ``apart``."""

    name: str
    metavar: str
    example: str
    required: bool = False

    @property
    def shown(self) -> str:
        return f"{self.name} {self.metavar}" if self.required else f"[{self.name} {self.metavar}]"


Flag = Option | Switch | Apart


@dataclass(frozen=True)
class Ref:
    """``[#id]``: a record number; ``bare`` also reads plain digits (``status 3``)."""

    noun: str  # "rollout" → "is not a rollout number"
    bare: bool = False
    shown: str = "[#id]"


@dataclass(frozen=True)
class Rest:
    """Free text after everything else (``[reason…]``), escaped for Slack and at most ``limit`` characters."""

    name: str
    limit: int
    clean: Callable[[str], str] = any_word  # applied before escaping (e.g. dropping HTML comment markers)

    @property
    def shown(self) -> str:
        return f"[{self.name}…]"


@dataclass(frozen=True)
class Sub:
    """A subcommand: ``name`` (one or two words, e.g. ``set batch-size``; "" for the command's own arguments, as in
    ``/zdm checklist <release>``) and an ``example`` of what may follow it (used in the sentences that explain a
    mistake, and checked to parse by the tests)."""

    name: str
    example: str = ""
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    ref: Ref | None = None
    rest: Rest | None = None

    @property
    def usage(self) -> str:
        parts = [self.name, *(a.shown for a in self.args), *(f.shown for f in self.flags if not isinstance(f, Apart))]
        parts += ([self.ref.shown] if self.ref else []) + ([self.rest.shown] if self.rest else [])
        return " ".join(part for part in parts + [f.shown for f in self.flags if isinstance(f, Apart)] if part)

    @property
    def takes_nothing(self) -> bool:
        return not (self.args or self.flags or self.ref or self.rest)


@dataclass(frozen=True)
class Parsed:
    """What one subcommand's words said: arguments and options by name (``"env"``, ``"--plan"``; None when absent),
    the switches given, the record number and the free text."""

    sub: str
    values: Mapping[str, object] = field(default_factory=dict)
    switches: frozenset[str] = frozenset()
    ref: int | None = None
    rest: str = ""

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"argument {name!r} of `{self.sub}` is not text")
        return value

    def number(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is not None and not isinstance(value, int):
            raise TypeError(f"argument {name!r} of `{self.sub}` is not a number")
        return value

    def on(self, switch: str) -> bool:
        return switch in self.switches


@dataclass(frozen=True)
class Grammar(Generic[T]):
    """``/zdm <command>``'s subcommands and how their parsed words become the stage's typed request."""

    command: str
    subs: tuple[Sub, ...]
    build: Callable[[Parsed], T]
    loose_quotes: bool = False  # unbalanced quotes split on spaces instead of being refused (`it's down`)

    @property
    def usage(self) -> str:
        """The usage line ``/zdm help`` shows after ``/zdm <command>``."""
        return " | ".join(sub.usage for sub in self.subs)

    @property
    def prefix(self) -> str:
        return f"/zdm {self.command}"

    def sub(self, name: str) -> Sub:
        return next(sub for sub in self.subs if sub.name == name)

    def use(self) -> str:
        """The sentence for a missing or unknown subcommand: every form, as ``Use `/zdm …`, `…` or `…`.``"""
        forms = [f"`{self.prefix} {self.subs[0].usage}`", *(f"`{sub.usage}`" for sub in self.subs[1:])]
        listed = forms[0] if len(forms) == 1 else ", ".join(forms[:-1]) + " or " + forms[-1]
        return f"Use {listed}."

    def example(self, sub: Sub) -> str:
        return "`" + " ".join(word for word in (self.prefix, sub.name, sub.example) if word) + "`"

    def called(self, sub: Sub) -> str:
        """``/zdm <command> <subcommand>`` as the person typed it."""
        return f"{self.prefix} {sub.name}".rstrip()

    def parse(self, text: str, *, apart: Collection[str] = ()) -> T:
        """The typed request ``text`` (the words after ``/zdm <command>``) asks for, or ``UsageError``.
        ``apart``: the ``Apart`` options the caller already split off the text."""
        from commands.cli.parse import read  # the reading rules live beside; this module stays declarations

        return self.build(read(self, text, apart=apart))
