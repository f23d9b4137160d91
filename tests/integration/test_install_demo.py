"""`zdm install-demo`: the bundled demo app into a database given by URL (what deploy/compose.yaml runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from bot.embedded import EmbeddedPostgres, ensure_database

REPO = Path(__file__).resolve().parents[2]


def test_install_demo_applies_migrations_and_seed_once(pg: EmbeddedPostgres, demo_app: Path, tmp_path: Path) -> None:
    ensure_database(pg.url("postgres"), "install_demo_here")
    url = pg.url("install_demo_here")
    shutil.copytree(demo_app, tmp_path / "examples" / "icupa")  # the shipped zdm.toml's app.root, next to it
    shutil.copyfile(REPO / "zdm.toml", tmp_path / "zdm.toml")
    env = {**os.environ, "ZDM_TARGET_DATABASE_URL": url, "ZDM_CONFIG_PATH": str(tmp_path / "zdm.toml")}
    argv = [sys.executable, "-m", "bot", "install-demo"]
    first = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("demo app installed: 20250101000000, ")
    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert (again.returncode, again.stdout) == (0, "demo app installed: already up to date\n")
    with psycopg.connect(url) as conn:
        tenants = conn.execute("select count(*) from public.tenants where slug like 'pilot_%'").fetchone()
    assert tenants is not None and tenants[0] > 0


def test_install_demo_needs_a_target_database_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDM_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "install-demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == "zdm: set ZDM_TARGET_DATABASE_URL to the database to install the demo app into\n"
