"""Argv templates from zdm.toml, expanded without a shell.

Each element is expanded on its own (``"--tenant={tenant}"`` → ``"--tenant=pilot_a"``), so a value can never
become an extra argument or a shell construct.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def expand_argv(template: Sequence[str], **values: str) -> list[str]:
    """Replace ``{name}`` placeholders in each element; ``{python}`` is this interpreter."""
    values = {"python": sys.executable, **values}
    expanded: list[str] = []
    for part in template:
        for key, value in values.items():
            part = part.replace("{" + key + "}", value)
        expanded.append(part)
    return expanded
