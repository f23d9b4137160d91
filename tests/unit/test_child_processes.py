"""Children run in their own process group and leave nothing behind: not at their end, not at shutdown."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from commands.adapters.command_runner import ChildProcesses, SubprocessRunner
from commands.ports import CommandResult

# a child that starts a grandchild in its own group, writes the grandchild's pid, then waits for it
SPAWNS_GRANDCHILD = """
import subprocess, sys, pathlib
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
pathlib.Path(sys.argv[1]).write_text(str(grandchild.pid))
if sys.argv[2] == "wait":
    grandchild.wait()
"""


def gone(pid: int) -> bool:
    """No such process, or only its zombie (killed, not yet reaped by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def wait_until(condition: object, what: str) -> None:
    event = threading.Event()
    for _ in range(2000):  # bounded: each round waits at most 10 ms
        if callable(condition) and condition():
            return
        event.wait(0.01)
    raise AssertionError(what)


def test_shutdown_kills_a_running_child_and_its_grandchild(tmp_path: Path) -> None:
    children = ChildProcesses()
    runner = SubprocessRunner(children)
    pid_file = tmp_path / "grandchild.pid"
    results: list[CommandResult] = []
    argv = [sys.executable, "-c", SPAWNS_GRANDCHILD, str(pid_file), "wait"]
    worker = threading.Thread(target=lambda: results.append(runner.run(argv, timeout_s=600)))
    worker.start()
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the child never started its grandchild")
    assert len(children.running_groups) == 1

    assert children.kill_all() == 1
    worker.join(30)
    assert not worker.is_alive() and results[0].exit_code is not None and results[0].exit_code < 0
    wait_until(lambda: gone(int(pid_file.read_text())), "the grandchild outlived the shutdown")
    assert children.running_groups == []


def test_a_child_that_exits_leaves_no_grandchild_behind(tmp_path: Path) -> None:
    runner = SubprocessRunner()
    pid_file = tmp_path / "grandchild.pid"
    result = runner.run([sys.executable, "-c", SPAWNS_GRANDCHILD, str(pid_file), "leave"], timeout_s=60)
    assert result.exit_code == 0 and not result.timed_out
    wait_until(lambda: gone(int(pid_file.read_text())), "the grandchild outlived its parent's command")
