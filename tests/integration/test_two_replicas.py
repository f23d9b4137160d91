"""Issue 7, "Replicas are safe", with two real `zdm serve` processes on one state database.

Replica A takes `/zdm rollout start`; the approval of step 1 reaches both replicas at once (the same Slack request,
then Slack's retry of it); A is killed with SIGKILL between step 1 and step 2; replica B alone posts the later
prompts, takes their approvals and finishes the rollout. Postgres, the audit log, the rollback log and the Slack
emulator must show every step prompted once and flipped once, and exactly the plan's tenants enabled.

Real time drives the cadence (steps a few seconds apart, a half-second scheduler tick): these are real processes,
so every wait below polls for an outcome with a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest

from bot.local.emulator import Message, SlackEmulator
from bot.signing import SignedRequest, block_action_body, sign, slash_command_body
from commands.config import RunbookConfig
from commands.rollout.views import APPROVE_ACTION
from tests.bot.conftest import FLAG, card_text, enabled, step_prompts, thread_messages
from tests.conftest import APPROVER, APPROVER2, ONCALL, SECRET, Databases, write_config
from tests.integration.test_serve_process import REPO, free_port, serve_env, wait_healthy

T = TypeVar("T")
STEP2_AT = timedelta(seconds=6)  # room for start → prompt → approval → flip → kill on a busy machine
PLAN = """
[rollout]
default_plan = "fast"

[[rollout.plans.fast]]
name = "demo tenant"
at = "0s"
slugs = ["demo_icupa"]

[[rollout.plans.fast]]
name = "pilots"
at = "6s"
glob = "pilot_*"

[[rollout.plans.fast]]
name = "first GA tenants"
at = "9s"
slugs = ["ga_001", "ga_002", "ga_003"]

[rollout.gates]
window = "1s"
hold_for = "1s"
check_every = "1s"
no_data = "pass"
"""
PILOTS = {f"pilot_{c}" for c in "abcde"}
SEEDED = {"pilot_a", "pilot_b"}  # the demo seed has the flag on for these two already
STEP_COHORTS = [{"demo_icupa"}, PILOTS - SEEDED, {"ga_001", "ga_002", "ga_003"}]


@pytest.fixture
def config(tmp_path: Path, app_root: Path) -> RunbookConfig:
    return write_config(tmp_path / "zdm.toml", app_root, extra=PLAN)


@dataclass
class Replica:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def post(self, request: SignedRequest) -> httpx.Response:
        return httpx.post(self.url + "/slack/events", content=request.body, headers=request.headers, timeout=10)

    def log(self) -> list[dict[str, Any]]:
        """The process's log so far, one JSON object a line (a file, so a chatty process never blocks on a pipe)."""
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@contextmanager
def replicas(names: tuple[str, ...], env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Replica]]:
    """Start one `zdm serve` per name (concurrently), each on its own port and data dir; kill what is left after."""
    started: dict[str, Replica] = {}
    try:
        for name in names:
            port, log_path = free_port(), tmp_path / f"serve-{name}.log"
            with log_path.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bot", "serve"],
                    cwd=REPO,
                    env={**env, "ZDM_PORT": str(port), "ZDM_DATA_DIR": str(tmp_path / f"data-{name}")},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started[name] = Replica(name, f"http://127.0.0.1:{port}", proc, log_path)
        for replica in started.values():
            wait_healthy(replica.url, replica.proc)
        yield started
    finally:
        for replica in started.values():
            if replica.proc.poll() is None:
                replica.proc.kill()
                replica.proc.wait()


def eventually(check: Callable[[], T | None], *, what: str, timeout: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        threading.Event().wait(0.05)  # polling Postgres, not waiting for a time to pass


def rollout_doc(dbs: Databases) -> dict[str, Any]:
    with dbs.state() as conn:
        rows = conn.execute("select doc from zdm.rollouts").fetchall()
    assert len(rows) == 1, f"expected one rollout, found {len(rows)}"
    return dict(rows[0][0])


def step_status(dbs: Databases, index: int) -> str:
    return str(rollout_doc(dbs)["steps"][index]["status"])


def one_prompt(slack: SlackEmulator, step: int) -> Message:
    """The prompt of ``step`` once it is in the thread; never more than one of it."""
    found: list[Message] = slack.wait_for(lambda _msgs: step_prompts(slack, step), timeout=15)
    assert len(found) == 1, f"step {step} was prompted {len(found)} times"
    return found[0]


def approval(slack: SlackEmulator, prompt: Message, *, user: str, reply_to: str) -> SignedRequest:
    """One press of Approve, signed as Slack signs it; its replies go to the response URL ``reply_to``."""
    button = next(
        e for b in prompt.blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == APPROVE_ACTION
    )
    body = block_action_body(
        user_id=user,
        action_id=APPROVE_ACTION,
        value=button["value"],
        channel_id=prompt.channel,
        message_ts=prompt.ts,
        response_url=slack.response_url(reply_to),
    )
    return sign(SECRET, body)


def retried(request: SignedRequest, retry_num: int) -> SignedRequest:
    """Slack's retry of ``request``: the same body and signature, plus the retry headers."""
    headers = {**request.headers, "x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"}
    return SignedRequest(request.body, headers)


def trigger(request: SignedRequest) -> str:
    return str(json.loads(parse_qs(request.body)["payload"][0])["trigger_id"])


def replies(slack: SlackEmulator, key: str) -> list[str]:
    return [m.text for m in slack.messages if m.kind == "response" and m.channel == f"response:{key}"]


def all_at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Send the requests from threads released at the same instant; every one must be acknowledged."""
    gate = threading.Barrier(len(calls))
    answers: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        try:
            answers[i] = calls[i]()
        except BaseException as exc:  # surfaced below
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for answer in answers:
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 200, answer.text
    return [a for a in answers if isinstance(a, httpx.Response)]


def test_two_serve_processes_run_one_rollout_and_the_survivor_finishes_it_after_a_kill(
    dbs: Databases, slack: SlackEmulator, config: RunbookConfig, tmp_path: Path
) -> None:
    env = serve_env(dbs, slack, tmp_path, ZDM_SCHEDULER_TICK_S="0.5", ZDM_LOG_FORMAT="json", ZDM_SHUTDOWN_GRACE_S="10")
    with ExitStack() as stack:
        both = stack.enter_context(replicas(("A", "B"), env, tmp_path))
        a, b = both["A"], both["B"]

        # --- start on A; the step-1 prompt comes from whichever replica gets the rollout's lock first ----------
        start = sign(
            SECRET, slash_command_body(text="rollout start", user_id=ONCALL, response_url=slack.response_url("start"))
        )
        ack = a.post(start).json()
        assert ack["text"].startswith("Started rollout #1 of `tenant.enableNewProfile`"), ack
        step1 = one_prompt(slack, 1)

        # --- step 1: the same press reaches both replicas at once, then Slack retries it ---------------------
        press = approval(slack, step1, user=APPROVER, reply_to="approve-1")
        all_at_once(lambda: a.post(press), lambda: b.post(press))
        eventually(lambda: step_status(dbs, 0) == "done", what="step 1 to flip")
        assert b.post(retried(press, 1)).status_code == 200
        assert a.post(retried(press, 2)).status_code == 200
        said = eventually(lambda: replies(slack, "approve-1"), what="the answer to the step-1 approval")

        # --- A dies mid-rollout: after step 1 flipped, before step 2 is due ----------------------------------
        a.proc.send_signal(signal.SIGKILL)
        assert a.proc.wait(timeout=10) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        doc = rollout_doc(dbs)
        assert [s["status"] for s in doc["steps"]] == ["done", "waiting", "waiting"]
        assert killed_at < datetime.fromisoformat(doc["started_at"]) + STEP2_AT, "A was killed after step 2 was due"

        # --- B alone: prompts steps 2 and 3, takes their approvals, finishes ---------------------------------
        # the press for step 2 is first sent to A, which is gone; Slack retries it and the retry lands on B,
        # which has never seen it: a retry header alone is no reason to drop a request
        step2 = one_prompt(slack, 2)
        press2 = approval(slack, step2, user=APPROVER2, reply_to="approve-2")
        with pytest.raises(httpx.TransportError):
            a.post(press2)
        assert b.post(retried(press2, 1)).status_code == 200
        eventually(lambda: step_status(dbs, 1) == "done", what="step 2 to flip on B")

        step3 = one_prompt(slack, 3)
        press3 = approval(slack, step3, user=APPROVER, reply_to="approve-3")
        assert b.post(press3).status_code == 200
        assert b.post(retried(press3, 1)).status_code == 200
        eventually(lambda: rollout_doc(dbs)["status"] == "done", what="the rollout to finish on B")
        slack.wait_for(lambda _msgs: any("finished" in m.text for m in thread_messages(slack)), timeout=15)

        # a few more of B's ticks on the finished rollout post nothing
        calls_before, ticks_done = len(slack.calls), _ticks(b)
        eventually(lambda: _ticks(b) >= ticks_done + 3, what="three more ticks on B")
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(timeout=20) == 0
        calls_after = slack.calls[calls_before:]

    # each approval was acted on once: the duplicates were dropped as retries, not answered as stale clicks
    assert len(said) == 1 and said[0].startswith("Enabled `tenant.enableNewProfile` for 1 tenants (step 1"), said
    assert replies(slack, "approve-1") == said
    for step, key in ((2, "approve-2"), (3, "approve-3")):
        answers = replies(slack, key)
        assert len(answers) == 1 and answers[0].startswith(f"Enabled `{FLAG}` for 3 tenants (step {step}"), answers

    # Postgres: done, every step flipped once by its approver, each cohort exactly as planned
    doc = rollout_doc(dbs)
    assert doc["status"] == "done"
    steps = doc["steps"]
    assert [s["status"] for s in steps] == ["done", "done", "done"]
    assert [s["flipped_by"] for s in steps] == [APPROVER, APPROVER2, APPROVER]
    assert [set(s["enabled"]) for s in steps] == STEP_COHORTS
    assert set(steps[1]["already_enabled"]) == SEEDED
    assert enabled(dbs) == set().union(*STEP_COHORTS, SEEDED)  # the plan's tenants, and no others
    with dbs.target() as conn:
        flagged = conn.execute(
            "select tenant_slug, updated_by from public.feature_flags where flag = %s and enabled", (FLAG,)
        ).fetchall()
    assert {t for t, by in flagged if by != "seed"} == set().union(*STEP_COHORTS)

    # the audit log: one toggle per tenant, one prompt, one approval per step, one finish
    with dbs.state() as conn:
        audit = conn.execute(
            "select action, subject, outcome, detail from zdm.audit_log where action like 'rollout.%' order by id"
        ).fetchall()
    toggles = sorted((d["step"], s) for a_, s, o, d in audit if a_ == "rollout.flag_on" and o == "ok")
    assert toggles == sorted((i, t) for i, cohort in enumerate(STEP_COHORTS) for t in cohort)
    assert not [r for r in audit if r[0] == "rollout.flag_on" and r[2] != "ok"]
    assert sorted(d["step"] for a_, _s, o, d in audit if a_ == "rollout.step_due") == [0, 1, 2]
    assert sorted(d["step"] for a_, _s, o, d in audit if a_ == "rollout.approve" and o == "ok") == [0, 1, 2]
    assert [a_ for a_, *_ in audit].count("rollout.started") == 1
    assert [a_ for a_, *_ in audit].count("rollout.finished") == 1

    # the rollback log has one entry per flip
    log_text = config.rollback_log_path.read_text()
    assert [log_text.count(f"rollout #1 step {n}") for n in (1, 2, 3)] == [1, 1, 1]

    # Slack: one thread, one prompt per step, one "finished" line; nothing posted once the rollout was done
    roots = [m for m in slack.in_channel("#release") if not m.thread_ts and "Rollout #1 of" in card_text(m)]
    assert len(roots) == 1
    assert [len(step_prompts(slack, n)) for n in (1, 2, 3)] == [1, 1, 1]
    assert {m.thread_ts for m in thread_messages(slack)} == {roots[0].ts}
    assert sum("finished" in m.text for m in thread_messages(slack)) == 1
    assert not [c for c in calls_after if c[0] == "chat.postMessage"]

    # B logged no error, though A died under it (possibly holding the rollout's lock)
    errors = [e for e in a.log() + b.log() if e.get("level") in ("ERROR", "CRITICAL")]
    assert not errors, errors

    # the replicas' logs say where the copies went: the twin of the simultaneous press and both retries of it
    # (3), and the retry of step 3's press (1), were recognised as repeats of a request already taken
    dropped = [e["message"] for e in a.log() + b.log() if e["message"].startswith("ignoring duplicate Slack request")]
    assert sorted(dropped) == sorted(
        [f"ignoring duplicate Slack request trigger:{trigger(press)}"] * 3
        + [f"ignoring duplicate Slack request trigger:{trigger(press3)}"]
    )


def _ticks(replica: Replica) -> float:
    scraped = httpx.get(replica.url + "/metrics", timeout=5).text
    for line in scraped.splitlines():
        if line.startswith("zdm_scheduler_ticks_total "):
            return float(line.split()[1])
    return 0.0
