"""Shared fixtures. The Kafka fixture starts a real Kafka-protocol broker (Tansu) for the session.

The browser tests need Chromium and chromedriver. CI installs them (.ci/run) and sets
TRIPGUARD_REQUIRE_BROWSER, so there a missing browser fails; elsewhere the browser tests are
skipped with one line saying how to enable them, and the rest of the suite runs."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

BROWSER_MISSING = (
    "no chromium + chromedriver on PATH: install them to run the browser tests "
    "(scripts/ensure-chromium, as root: Debian's chromium and chromium-driver)"
)


@pytest.fixture(autouse=True)
def _browser_tests_need_chromium(request):
    if request.node.get_closest_marker("browser") is None or (
        shutil.which("chromium") and shutil.which("chromedriver")
    ):
        return
    if os.environ.get("TRIPGUARD_REQUIRE_BROWSER"):
        pytest.fail(f"TRIPGUARD_REQUIRE_BROWSER is set, but {BROWSER_MISSING}")
    pytest.skip(BROWSER_MISSING)  # raised here, so -ra reports every browser test on this one line


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A real broker process for the test session (memory storage, loopback, a free port)."""
    from tripguard.stream.broker import EmbeddedBroker

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = EmbeddedBroker(log_path=log).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def run_async():
    """Run a coroutine to completion in a fresh event loop (tests stay synchronous)."""

    def run(coro, timeout_s: float = 120.0):
        return asyncio.run(asyncio.wait_for(coro, timeout_s))

    return run
