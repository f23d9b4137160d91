"""The release issue's "DB Changes" section, edited idempotently.

GitHub replaces an issue's whole body on PATCH, so the caller reads the body, passes it here with one entry, and
writes the result back. An entry carries an invisible marker (``<!-- zdm:… -->``): writing the same entry twice
replaces it in place instead of adding a second line, and text written by people is never touched.
"""

from __future__ import annotations

import re


def upsert_entry(body: str, *, section: str, marker: str, entry: str) -> str:
    """``body`` with ``entry`` (one line) under the ``section`` heading, replacing a line that has ``marker``."""
    tag = f"<!-- zdm:{marker} -->"
    line = f"- {entry} {tag}"
    lines = body.splitlines()
    for i, existing in enumerate(lines):
        if tag in existing:
            lines[i] = line
            return _join(lines, body)
    heading = re.compile(rf"^\s*#{{1,6}}\s*{re.escape(section)}\s*#*\s*$", re.IGNORECASE)
    start = next((i for i, text in enumerate(lines) if heading.match(text)), None)
    if start is None:
        lines += ["", f"## {section}", "", line] if lines else [f"## {section}", "", line]
        return _join(lines, body)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("#")), len(lines))
    insert_at = end
    while insert_at > start + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1
    placeholder = insert_at - 1
    if placeholder > start and re.fullmatch(r"\s*(-\s*)?(_?none( yet)?\.?_?|n/?a|tbd|-)\s*", lines[placeholder], re.I):
        lines[placeholder] = line  # "- none yet" written by the issue template
    else:
        lines.insert(insert_at, line)
        if insert_at == start + 1:
            lines.insert(insert_at, "")
    return _join(lines, body)


def _join(lines: list[str], original: str) -> str:
    newline = "\r\n" if "\r\n" in original else "\n"
    return newline.join(lines) + newline
