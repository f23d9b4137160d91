"""``zdm demo --web``: the page's API over real HTTP, and the rollout walkthrough done with the mouse in a real
browser (Debian's chromium driven by Playwright): start, approve as another user, see the card update and its
KPI chart load, deny with a reason in the modal.

Set ``ZDM_UPDATE_SCREENSHOT=1`` to refresh the README's screenshot (docs/approval-card.png) from this test."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_app
from bot.bootstrap import Container
from bot.demo import DemoTraffic
from bot.executor import TrackingExecutor
from bot.local.emulator import SlackEmulator
from bot.shell import DemoControls, Shell
from bot.web.server import WebServer
from bot.web.workspace import Console, Workspace
from scheduler.runner import Metronome, TickJob
from tests.conftest import APPROVER, ONCALL, SECRET
from tests.fakes import FakeClock

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "approval-card.png"
TIMEOUT_MS = 60_000


@pytest.fixture
def web(container: Container, slack: SlackEmulator, clock: FakeClock) -> Iterator[WebServer]:
    executor = TrackingExecutor()
    config = container.services.config
    traffic = DemoTraffic(container.target_pool, flag=config.flag.name, flag_table=config.flag.table)
    jobs: dict[str, TickJob] = {"demo_traffic": traffic, **container.services.scheduled_jobs()}
    metronome = Metronome(clock=clock, tick_s=3600, jobs=jobs, time_scale=0)
    console = Console()
    controls = DemoControls(
        advance=clock.advance, tick=metronome.tick, now=clock.now, set_error_rate=traffic.set_error_rate
    )
    shell = Shell(app=build_app(container, executor=executor), emulator=slack, signing_secret=SECRET,
                  executor=executor, user=ONCALL, out=console, ask=None,  # type: ignore[arg-type]
                  release_channel=config.channels.release, demo=controls)  # fmt: skip
    server = WebServer(Workspace(shell, console, channels=[config.channels.release]), port=0).start()
    yield server
    server.stop()
    executor.wait_idle(30)
    executor.shutdown(wait=True)


def call(server: WebServer, path: str, body: dict[str, Any] | None = None, *, header: bool = True) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the page on loopback
        server.url + path.lstrip("/"), data=data, method="POST" if data else "GET"
    )
    if header:
        request.add_header("X-ZDM-Web", "1")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            raw = response.read()
            return json.loads(raw) if "json" in response.headers.get("Content-Type", "") else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_page_api_runs_commands_as_signed_slack_requests(web: WebServer) -> None:
    assert "<title>zdm demo" in call(web, "/")
    assert call(web, "/api/command", {"text": "/zdm rollout start", "channel": "CRELEASE"}, header=False) == 403
    assert call(web, "/api/command", {"text": "/zdm help"}) == 400  # no channel: refused, nothing run
    assert call(web, "/api/nothing", {"x": 1}) == 404
    call(web, "/api/command", {"text": "/zdm rollout start", "channel": "CRELEASE"})
    state = call(web, "/api/state")
    titles = [m["text"] for m in state["messages"] if m["kind"] == "message"]
    assert any("Rollout #1" in t for t in titles) and any("Step 1/4" in t for t in titles)
    call(web, "/api/command", {"text": "advance soon", "channel": "CRELEASE"})
    assert any("'soon' is not a duration" in line for line in call(web, "/api/state")["console"])
    call(web, "/api/as", {"user": APPROVER})
    assert call(web, "/api/state")["user"] == APPROVER


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (it comes with the dev extras: ./dev.sh setup)")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium browser here: ./dev.sh setup installs Debian's chromium when run as root with apt")
    return sync_playwright


def test_the_rollout_walkthrough_with_the_mouse_in_a_real_browser(web: WebServer, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(web.url)
            page.fill("#composer-text", "/zdm rollout start")
            page.press("#composer-text", "Enter")
            prompt = page.locator(".msg", has_text="Step 1/4").last
            prompt.get_by_role("button", name="Approve").wait_for()

            page.select_option("#user", APPROVER)  # the starter may not approve: another user does
            page.wait_for_function(f"document.querySelector('#user').value === '{APPROVER}'")
            prompt.get_by_role("button", name="Approve").click()
            assert "Approve this step?" in page.inner_text("#confirm")
            page.click("#confirm-yes")
            page.locator(".msg", has_text="Enabled for 1 tenants").first.wait_for()

            page.fill("#traffic-pct", "0")  # healthy traffic (random errors could breach the gate and pause it)
            page.click("#traffic-go")
            page.wait_for_function("document.querySelector('#console').textContent.includes('0 % errors')")
            for _ in range(12):  # hour by hour, so the demo traffic fills the chart; then the pilots' step is due
                before = page.inner_text("#clock")
                page.click("[data-advance='1h']")
                page.wait_for_function(f"document.querySelector('#clock').textContent !== {before!r}")
            card = page.locator(".msg", has_text="Step 2/4").last
            chart = card.locator("img.chart")
            chart.wait_for()
            page.wait_for_function(
                "() => [...document.querySelectorAll('img.chart')].some(i => i.complete && i.naturalWidth > 0)"
            )
            assert chart.evaluate("img => img.naturalWidth") == 640
            assert "error rate: latest" in (chart.get_attribute("alt") or "")
            shot = tmp_path / "approval-card.png"
            for attempt in range(3):  # the bot may be redrawing the card at that moment (a KPI check)
                try:
                    card.screenshot(path=str(shot))
                    break
                except Exception:
                    if attempt == 2:
                        raise
            if os.environ.get("ZDM_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(shot, SCREENSHOT)

            card.get_by_role("button", name="Deny").click()
            page.click("#confirm-yes")
            page.locator("#modal-body textarea, #modal-body input").first.fill("pilots report slow checkout")
            page.click("#modal-submit")
            page.locator(".msg", has_text="Denied by @U0APPROVER: pilots report slow checkout").first.wait_for()
            assert page.locator("#modal").is_hidden()
        finally:
            browser.close()
