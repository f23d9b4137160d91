"""``POST /lighthouse``: CI sends a report to `zdm serve` (bearer token) instead of dropping it into a folder
shared with the pods; the same ingest as the watched folder runs, and the archive goes to the configured folder."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from bot.app import build_app
from bot.bootstrap import Container
from bot.executor import TrackingExecutor
from bot.server import LighthouseInbox, create_server
from commands.config import RunbookConfig
from tests.bot.test_lighthouse import BASELINE, REPO
from tests.conftest import write_config

TOKEN = "ci-lighthouse-token"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "volume" / "lighthouse"  # outside app.root: the volume the manifests mount


@pytest.fixture
def config(tmp_path: Path, app_root: Path, archive: Path) -> RunbookConfig:
    extra = f'[release]\ngithub_repo = "{REPO}"\n\n[lighthouse]\narchive_dir = "{archive}"\n'
    return write_config(tmp_path / "zdm.toml", app_root, extra=extra)


@pytest.fixture
def url(container: Container) -> Iterator[str]:
    clock, lighthouse = container.services.clock, container.services.lighthouse
    inbox = LighthouseInbox(
        token=TOKEN, ingest=lambda data: lighthouse.ingest_data(data, name="posted.json", now=clock.now()).describe()
    )
    server = create_server(build_app(container, executor=TrackingExecutor()), host="127.0.0.1", port=0, threads=2,
                           inbox=inbox)  # fmt: skip

    def run() -> None:
        with suppress(OSError, ValueError):
            server.run()

    threading.Thread(target=run, daemon=True).start()
    yield f"http://127.0.0.1:{server.effective_port}/lighthouse"
    server.close()


def test_a_posted_report_is_ingested_with_the_token_and_refused_without_it(url: str, archive: Path) -> None:
    data = BASELINE.read_bytes()
    refused = httpx.post(url, content=data, headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert refused.status_code == 401 and "ZDM_LIGHTHOUSE_TOKEN" in refused.text
    assert not archive.exists()  # nothing happened

    bad = httpx.post(url, content=b"{not json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert bad.status_code == 422 and "Traceback" not in bad.text and bad.text.count("\n") == 1

    posted = httpx.post(url, content=data, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert posted.status_code == 200, posted.text
    [stored] = list(archive.rglob("*.json"))
    assert stored.read_bytes() == data and f"archived: {stored}" in posted.text
    assert httpx.get(url, timeout=10).status_code == 405
