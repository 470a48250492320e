"""A SIGKILLed publisher leaves no process behind: its site-page worker and the multiprocessing
resource tracker end with it (they were left running forever, parented to PID 1)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.system import running_system
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def children() -> dict[int, list[int]]:
    """Each live process's children, read off /proc (pid -> child pids)."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def descendants(pid: int) -> set[int]:
    tree, found, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended: only its entry is left)."""
    out = set()
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            out.add(pid)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes off /proc")
def test_a_sigkilled_publisher_leaves_no_worker_behind(tmp_path: Path) -> None:
    with running_system(tmp_path, services=("publisher",)) as system:
        publisher = system.processes["publisher"]

        def worker_started() -> set[int]:
            found = descendants(publisher.pid)
            spawned = {p for p in found if "multiprocessing" in command_line(p)}
            return found if len(spawned) >= 2 else set()  # the worker and the resource tracker

        left = wait_until(worker_started, timeout=60)
        assert {p for p in left if "spawn_main" in command_line(p)}, (
            [command_line(p) for p in left]
        )  # fmt: skip

        os.kill(publisher.pid, signal.SIGKILL)
        publisher.wait(10)
        try:
            wait_until(lambda: not alive(left), timeout=10)
        except AssertionError:
            orphans = {p: command_line(p) for p in alive(left)}
            for pid in orphans:  # do not leave them to the next test
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"alive 10 s after the publisher was killed: {orphans}") from None
