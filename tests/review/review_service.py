"""Run `tripguard` as a real process: the CLI, and the service on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from tripguard.stream.broker import free_port


def tripguard(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tripguard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def new_token(db, role: str) -> str:
    r = tripguard("token", "create", "--role", role, "--db", str(db))
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[-1]  # the token is the last word of the output


@contextmanager
def running_service(db, *extra: str, env=None):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tripguard.cli", "serve", "--db", str(db), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"serve exited with {proc.returncode}: {proc.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail("serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
