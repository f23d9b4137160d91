"""``artifacts/<release>/``: the release's reports and zdm's audit export, with a manifest of sha256 checksums."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_archive(
    *, root: Path, folder: Path, release: str, reports: Sequence[str], audit: list[dict[str, Any]], now: datetime
) -> tuple[Path, dict[str, str]]:
    """Copy the reports matching ``reports`` (globs under ``root``) and write ``audit.json`` and the manifest."""
    target = root / folder / release
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for pattern in reports:
        for source in sorted(root.glob(pattern)):
            if not source.is_file() or target in source.parents:
                continue
            relative = source.relative_to(root)
            copy = target / "reports" / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
            files[str(copy.relative_to(target))] = sha256(copy)
    (target / "audit.json").write_text(json.dumps(audit, indent=1, default=str) + "\n", encoding="utf-8")
    files["audit.json"] = sha256(target / "audit.json")
    manifest = {"release": release, "created_at": now.isoformat(), "algorithm": "sha256", "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target, files


def verify_archive(target: Path) -> list[str]:
    """Problems found (empty when every file in the manifest is there with its checksum)."""
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"no readable {MANIFEST} in `{target}` ({exc.__class__.__name__})"]
    problems = []
    for name, expected in sorted(manifest.get("files", {}).items()):
        path = target / name
        if not path.is_file():
            problems.append(f"`{name}` is missing")
        elif sha256(path) != expected:
            problems.append(f"`{name}` does not match its checksum")
    return problems
