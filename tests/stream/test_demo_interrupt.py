"""`tripguard demo` and Ctrl-C: at any moment -- starting up, simulating, compiling the kernels on a
cold cache, sending traffic -- the demo is gone within 2 s and leaves no process behind (broker,
kernel compile, simulation). A terminal's Ctrl-C is SIGINT to the foreground process group; the
demo runs in its own group here and the test sends SIGINT to that group."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STOP_WITHIN_S = 2.0


def children_of(pids: set[int]) -> set[int]:
    """Every live process whose parent is in `pids`, transitively."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), set(pids)
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt_demo(env: dict, marker: str | None, after_s: float, deadline_s: float = 300.0):
    """Start the demo; SIGINT `after_s` seconds after `marker` appears in its output (after the
    start when None). Returns (output, seconds from SIGINT to exit, exit code, processes it had)."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "tripguard", "demo", "--trips", "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **env},
    )
    os.set_blocking(demo.stdout.fileno(), False)
    selector = selectors.DefaultSelector()
    selector.register(demo.stdout, selectors.EVENT_READ)
    output, family = b"", set()
    started, seen_at, sent_at = time.monotonic(), None, None
    try:
        while demo.poll() is None and time.monotonic() - started < deadline_s:
            if selector.select(0.05):
                output += demo.stdout.read() or b""
            family |= children_of({demo.pid})
            if seen_at is None and (marker is None or marker.encode() in output):
                seen_at = time.monotonic()
            if sent_at is None and seen_at is not None and time.monotonic() - seen_at >= after_s:
                os.killpg(demo.pid, signal.SIGINT)
                sent_at = time.monotonic()
        assert sent_at is not None, f"never saw {marker!r}:\n{output.decode()}"
        demo.wait(timeout=30)
        stopped_s = time.monotonic() - sent_at
        output += demo.stdout.read() or b""
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    time.sleep(0.5)  # let init reap what was the demo's
    return output.decode(), stopped_s, demo.returncode, family


def assert_stopped_clean(output: str, stopped_s: float, code: int, family: set[int]) -> None:
    assert stopped_s < STOP_WITHIN_S, f"stopped {stopped_s:.2f} s after SIGINT:\n{output}"
    # 0: the worker stopped on SIGINT; 130: interrupted before the worker took over SIGINT;
    # -SIGINT: killed by it before Python had set up its handler (a shell shows that as 130 too)
    assert code in (0, 130, -signal.SIGINT), output
    assert "Traceback" not in output and "RequestTimedOutError" not in output, output
    left = sorted(pid for pid in family if alive(pid))
    assert not left, f"left behind: {left}"


@pytest.mark.parametrize("after_s", [0.3, 1.5])
def test_ctrl_c_while_starting(tmp_path, after_s):
    result = interrupt_demo({"TRIPGUARD_NUMBA_CACHE_DIR": str(tmp_path / "numba")}, None, after_s)
    assert_stopped_clean(*result)
    assert "sending" not in result[0]


def test_ctrl_c_during_a_cold_compile(tmp_path):
    # an empty cache: the kernels compile (30-60 s), the progress line says so, Ctrl-C is answered
    env = {"TRIPGUARD_NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    output, *rest = interrupt_demo(env, "compiling kernels (first run only)", 1.0)
    assert_stopped_clean(output, *rest)
    assert "sending" not in output  # it does not go on with the demo
    assert len(rest[2]) >= 2  # the broker and the compile had started: both are gone


def test_ctrl_c_while_sending(tmp_path):
    # the repository's own Numba cache: warm when the kernel tests ran first, else filled now
    result = interrupt_demo({}, "sending", 1.0)
    assert_stopped_clean(*result)
    assert "SIGINT received" in result[0]
