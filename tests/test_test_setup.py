"""The test setup itself: without Chromium the browser tests are skipped with one line saying how
to enable them (and fail instead where CI requires them); .gitignore hides no tracked file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytest_without_chromium(require: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRIPGUARD_REQUIRE_BROWSER"}
    env["PATH"] = str(Path(sys.executable).parent)  # only the virtualenv: no chromium, no chromedriver
    if require:
        env["TRIPGUARD_REQUIRE_BROWSER"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "tests/review/test_browser.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_browser_tests_skip_with_one_line_without_chromium():
    r = pytest_without_chromium()
    assert r.returncode == 0, r.stdout
    lines = [line for line in r.stdout.splitlines() if "chromium" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("SKIPPED") and "scripts/ensure-chromium" in lines[0], r.stdout
    assert " skipped" in r.stdout.splitlines()[-1] and "failed" not in r.stdout.splitlines()[-1]


def test_ci_fails_instead_of_skipping_without_chromium():
    r = pytest_without_chromium(require=True)
    assert r.returncode == 1 and "TRIPGUARD_REQUIRE_BROWSER is set" in r.stdout


def test_gitignore_hides_no_tracked_file():
    r = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout == ""
