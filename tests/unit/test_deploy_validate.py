"""The test command validates deploy/ with the tools the ecosystem uses: the rendered Kubernetes manifests against
the API schemas (kubernetes-validate --strict) and the Dockerfile with hadolint. Skipped only when a tool is not
installed (both are in the dev extras)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.kustomize import render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # the venv's copy first
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' installs it)")
    return found


def test_rendered_kustomization_passes_kubernetes_validate_strict(tmp_path: Path) -> None:
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(render(DEPLOY / "k8s"), sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(rendered)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr

    assert done.stdout.count(" passed for resource ") == len(render(DEPLOY / "k8s"))


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
