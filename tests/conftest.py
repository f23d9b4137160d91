"""Test harness: one embedded Postgres per session, fresh databases per test, a local Slack Web API, the real
Bolt app behind a real HTTP server, and signed requests."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from bot import executor as lanes
from bot.app import build_app
from bot.bootstrap import Container, build_container
from bot.embedded import EmbeddedPostgres, ensure_database, install_demo_app, start_embedded
from bot.executor import TrackingExecutor
from bot.local.emulator import Message, SlackEmulator
from bot.local.standins import GitHubStandIn, PagerDutyStandIn
from bot.server import create_server
from bot.settings import Settings
from bot.signing import SignedRequest, block_action_body, sign, slash_command_body
from commands.adapters.store_pg import migrate_state
from commands.config import RunbookConfig, load_config
from tests.edge.tcp_proxy import PgOutageProxy
from tests.fakes import FakeClock

REPO = Path(__file__).resolve().parent.parent
DEMO_APP = REPO / "examples" / "icupa"
SECRET = "test-signing-secret"
ONCALL = "U0ONCALL"
GROUP_MEMBER = "U0INGROUP"
STRANGER = "U0STRANGER"
APPROVER = "U0APPROVER"
APPROVER2 = "U0APPROVER2"
ONCALL_GROUP = "S0ONCALL"
_counter = itertools.count(1)
TEST_LANES = {lanes.ONCALL: 4, lanes.HEAVY: 2}  # fixed, whatever the machine's cores (the default follows them)
TEMP_ROOT = REPO / "build" / "pytest"  # the suite's own temporary folder (build/ is git-ignored)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Keep temporary files under the checkout's ``build/pytest`` unless the caller passed ``--basetemp``: pytest's
    shared default folder is re-permissioned by every other pytest on the machine, which breaks pgserver's initdb
    (run as its own system user when started as root)."""
    if config.option.basetemp is None:
        TEMP_ROOT.parent.mkdir(exist_ok=True)
        config.option.basetemp = str(TEMP_ROOT)


def tracked_files(root: Path) -> list[Path]:
    """The files of ``root`` that git tracks (their working-tree content), so files a user added while following
    the README (a new migration, a destructive example) stay out of the suite; every file outside a git checkout."""
    git = shutil.which("git")
    try:
        if git is None:
            raise FileNotFoundError("git")
        listed = subprocess.run(
            [git, "ls-files", "-z", "--", "."], cwd=root, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    names = [Path(n) for n in listed.decode().split("\0") if n]
    return [n for n in names if (root / n).is_file()]


def copy_demo_app(dest: Path) -> Path:
    """A private copy of the demo app's tracked files at ``dest``."""
    for name in tracked_files(DEMO_APP):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DEMO_APP / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's copy of examples/icupa, made once per session; tests never read the working tree's."""
    return copy_demo_app(tmp_path_factory.mktemp("demo-app") / "icupa")


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """The session's embedded Postgres. Its cluster is thrown away with the session, so it runs without waiting for
    the disk (``fsync``, ``synchronous_commit`` and ``full_page_writes`` off): the same Postgres semantics —
    transactions, locks, visibility — at a tenth of the cost of each commit and ``create database``."""
    server = start_embedded(tmp_path_factory.mktemp("pg"))
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("alter system set {} = off").format(sql.Identifier(setting)))
        conn.execute("select pg_reload_conf()")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_template(pg: EmbeddedPostgres, demo_app: Path) -> str:
    ensure_database(pg.url("postgres"), "icupa_template")
    install_demo_app(pg.url("icupa_template"), demo_app)
    return "icupa_template"


@dataclass
class Databases:
    state_url: str
    target_url: str

    def target(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.target_url, autocommit=True)

    def state(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.state_url, autocommit=True)


@pytest.fixture
def dbs(pg: EmbeddedPostgres, demo_template: str) -> Iterator[Databases]:
    """A fresh state database (migrated) and target database (the demo app) for one test, dropped after it so a
    whole run does not leave gigabytes behind."""
    n = next(_counter)
    admin = pg.url("postgres")
    ensure_database(admin, f"state_{n}")
    ensure_database(admin, f"target_{n}", template=demo_template)
    migrate_state(pg.url(f"state_{n}"))
    yield Databases(pg.url(f"state_{n}"), pg.url(f"target_{n}"))
    with suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        for name in (f"state_{n}", f"target_{n}"):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def app_root(tmp_path: Path, demo_app: Path) -> Path:
    """A private copy of the demo app checkout, so the rollback log is written under tmp."""
    root = tmp_path / "icupa"
    shutil.copytree(demo_app / "supabase", root / "supabase")
    shutil.copytree(demo_app / "scripts", root / "scripts")
    return root


def write_config(path: Path, app_root: Path, extra: str = "", *, roles: str = "") -> RunbookConfig:
    """The tests' zdm.toml: the demo app copy at ``app_root``; ``roles`` adds lines to ``[roles]``."""
    path.write_text(
        f"""
[roles]
{roles}
oncall = ["{ONCALL}", "{ONCALL_GROUP}"]
release_approvers = ["{ONCALL}", "{APPROVER}", "{APPROVER2}"]

[app]
root = "{app_root}"

[rollback]
smoke_argv = ["{{python}}", "scripts/smoke_tenancy.py", "--tenant", "{{tenant}}"]
smoke_timeout_s = 30
{extra}
""",
        encoding="utf-8",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(user_groups={ONCALL_GROUP: [GROUP_MEMBER]}).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(
    dbs: Databases,
    slack: SlackEmulator,
    tmp_path: Path,
    *,
    github: GitHubStandIn | None = None,
    pagerduty: PagerDutyStandIn | None = None,
    state_url: str | None = None,
) -> Settings:
    """Settings pointing at the test's databases and Slack emulator, and at the GitHub / PagerDuty stand-ins given."""
    edges: dict[str, Any] = {}
    if github is not None:
        edges |= {"github_token": SecretStr(github.token), "github_api_url": github.url}
    if pagerduty is not None:
        edges |= {
            "pagerduty_routing_key": SecretStr(pagerduty.ROUTING_KEY),
            "pagerduty_events_url": pagerduty.events_url,
        }
    return Settings(
        slack_bot_token=slack.token,  # type: ignore[arg-type]
        slack_signing_secret=SECRET,  # type: ignore[arg-type]
        slack_api_url=slack.api_url,
        state_database_url=state_url or dbs.state_url,
        target_database_url=dbs.target_url,
        data_dir=tmp_path / "data",
        config_path=tmp_path / "zdm.toml",
        **edges,
    )


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """A local server speaking GitHub's issues API (token ``ghp-test``)."""
    stand_in = GitHubStandIn(token="ghp-test")
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def proxy(dbs: Databases) -> Iterator[PgOutageProxy]:
    """A TCP proxy in front of the state database that a test can cut and restore (an outage at the network edge)."""
    proxy = PgOutageProxy(dbs.state_url)
    yield proxy
    proxy.close()


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyStandIn]:
    """A local server validating PagerDuty Events API v2 events."""
    stand_in = PagerDutyStandIn()
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def container(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path, clock: FakeClock
) -> Iterator[Container]:
    built = build_container(make_settings(dbs, slack, tmp_path), config=config, clock=clock)
    yield built
    built.close()


@dataclass
class BotServer:
    url: str
    executor: TrackingExecutor
    slack: SlackEmulator

    def post(self, request: SignedRequest) -> httpx.Response:
        return httpx.post(self.url + "/slack/events", content=request.body, headers=request.headers, timeout=10)

    def command(
        self, text: str, *, user: str = ONCALL, retry_num: int | None = None, trigger_id: str | None = None
    ) -> httpx.Response:
        body = slash_command_body(
            text=text, user_id=user, response_url=self.slack.response_url("cmd"), trigger_id=trigger_id
        )
        return self.post(sign(SECRET, body, retry_num=retry_num))

    def click(self, message: Message, action: str, *, user: str = ONCALL) -> httpx.Response:
        """Press the button ``action`` on a posted message, as Slack would send it."""
        button = next(
            e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action
        )
        body = block_action_body(
            user_id=user,
            action_id=action,
            value=button["value"],
            channel_id=message.channel,
            message_ts=message.ts,
            response_url=self.slack.response_url("click"),
        )
        return self.post(sign(SECRET, body))

    def responses(self) -> list[str]:
        """Texts the bot sent back through response URLs (ephemeral replies after the ack)."""
        return [m.text for m in self.slack.messages if m.kind == "response"]

    def settle(self) -> None:
        """Wait until the work started after each ack has finished."""
        assert self.executor.wait_idle(60), "background work did not finish"


def run_until_closed(server: Any) -> None:
    # close() pulls the sockets out from under select(): that is how the server stops
    with suppress(OSError, ValueError):
        server.run()


@contextmanager
def serving(container: Container, slack: SlackEmulator) -> Iterator[BotServer]:
    """The real Bolt app behind a real HTTP server on a free port, for one container."""
    executor = TrackingExecutor(lanes=TEST_LANES)
    server = create_server(
        build_app(container, executor=executor),
        host="127.0.0.1",
        port=0,
        threads=8,
        metrics=container.metrics,
        ready=container.readiness.reason_not_ready if container.readiness else None,
        signing_secret=container.signing_secret,
        acks=executor.acks,
    )
    thread = threading.Thread(target=run_until_closed, args=(server,), daemon=True)
    thread.start()
    try:
        yield BotServer(f"http://127.0.0.1:{server.effective_port}", executor, slack)
    finally:
        executor.wait_idle(30)
        server.close()
        executor.shutdown(wait=True)


@pytest.fixture
def bot(container: Container, slack: SlackEmulator) -> Iterator[BotServer]:
    with serving(container, slack) as server:
        yield server
