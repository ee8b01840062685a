"""Shared fixtures. The Kafka fixture starts a real Kafka-protocol broker (Tansu) for the session."""

from __future__ import annotations

import asyncio

import pytest


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
