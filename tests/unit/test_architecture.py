"""The architecture's import rule, read from the source with ``ast`` (nothing is imported, so it takes milliseconds).

Stage code under ``commands/`` talks to the outside world only through its ports: no module outside
``commands/adapters/`` imports an adapter, a database or HTTP driver, Slack, APScheduler, or the bot and scheduler
packages that wire everything together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COMMANDS = Path(__file__).resolve().parents[2] / "commands"
ADAPTERS = COMMANDS / "adapters"
FORBIDDEN = (
    "commands.adapters",
    "psycopg",
    "psycopg_pool",
    "httpx",
    "slack_sdk",
    "slack_bolt",
    "apscheduler",
    "bot",
    "scheduler",
)
DYNAMIC_IMPORTS = ("import_module", "__import__")


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) for every import in ``tree``: ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a
    module); a string literal given to ``importlib.import_module`` or ``__import__`` counts as an import too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _called_name(node.func) in DYNAMIC_IMPORTS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def forbidden_imports(source: str, *, where: str) -> list[str]:
    """``where:line imports name`` for each forbidden import in one module's source (relative imports count as
    forbidden: commands/ uses absolute ones only, so the rule cannot be dodged by a dot)."""
    tree = ast.parse(source, filename=where)
    bad = [
        f"{where}:{line} imports {name}"
        for line, name in imported_names(tree)
        if any(name == root or name.startswith(f"{root}.") for root in FORBIDDEN)
    ]
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    return bad + [f"{where}:{n.lineno} uses a relative import" for n in relative]


def stage_modules() -> list[Path]:
    return sorted(p for p in COMMANDS.rglob("*.py") if ADAPTERS not in p.parents)


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def test_no_module_outside_adapters_imports_an_adapter_a_driver_slack_or_the_wiring() -> None:
    modules = stage_modules()
    assert len(modules) > 50, f"expected the stage modules under {COMMANDS}, found {len(modules)}"
    violations = [
        v
        for path in modules
        for v in forbidden_imports(path.read_text(encoding="utf-8"), where=path.relative_to(COMMANDS.parent).as_posix())
    ]
    assert violations == [], "stage code must reach the outside only through its ports:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import psycopg\n", ["x.py:1 imports psycopg"]),
        ("from psycopg import sql\n", ["x.py:1 imports psycopg", "x.py:1 imports psycopg.sql"]),
        ("from commands import adapters\n", ["x.py:1 imports commands.adapters"]),
        (
            "from commands.adapters.locks import PgLocks\n",
            ["x.py:1 imports commands.adapters.locks", "x.py:1 imports commands.adapters.locks.PgLocks"],
        ),
        ("if True:\n    import slack_bolt.app\n", ["x.py:2 imports slack_bolt.app"]),
        ("import importlib\nimportlib.import_module('httpx')\n", ["x.py:2 imports httpx"]),
        ("from . import model\n", ["x.py:1 uses a relative import"]),
        ("import botocore\nfrom commands.ports import Clock\nimport schedule\n", []),
    ],
)
def test_the_checker_sees_each_kind_of_import(source: str, expected: list[str]) -> None:
    """The rule's own check: a plain, nested, ``from``, dynamic and relative import are each caught; a name that
    only starts like a forbidden one (``botocore``, ``schedule``) is not."""
    assert forbidden_imports(source, where="x.py") == expected
