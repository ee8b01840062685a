"""Process-level plumbing shared by `run`, `produce`, `tail` and `demo`: logging, the broker to talk
to (the given one, or an embedded Tansu), Kafka clients that are closed also when they fail to
start, and running a one-shot command to completion."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from tripguard.config.settings import Settings
from tripguard.errors import BrokerError, ConfigError

log = logging.getLogger("tripguard.stream")

T = TypeVar("T")
C = TypeVar("C", bound=Any)  # an aiokafka client (untyped)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLogger().level))


@asynccontextmanager
async def broker_for(settings: Settings) -> AsyncIterator[tuple[str, bool]]:
    """(bootstrap, embedded). With no --bootstrap and no TRIPGUARD_BOOTSTRAP an embedded broker
    (Tansu, memory only) is started, its topics created, and stopped on the way out."""
    if settings.bootstrap:
        yield settings.bootstrap, False
        return
    from tripguard.stream.broker import EmbeddedBroker
    from tripguard.stream.topics import create_topics

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_path=settings.state_dir / "tansu.log")
    starting = asyncio.ensure_future(asyncio.to_thread(broker.start))
    try:
        await asyncio.shield(starting)  # a Ctrl-C now must not leave the process starting behind
        log.info(
            "no --bootstrap and no TRIPGUARD_BOOTSTRAP: started the embedded Kafka-protocol broker (Tansu, "
            "data in memory only) on %s",
            broker.bootstrap,
        )
        created = await create_topics(broker.bootstrap, settings)
        log.info("created topics %s with %d partitions", ", ".join(created), settings.partitions)
        yield broker.bootstrap, True
    finally:
        await asyncio.gather(starting, return_exceptions=True)  # a start cut short still ends (in ~0.1 s)
        await asyncio.to_thread(broker.stop)


@asynccontextmanager
async def started(client: C) -> AsyncIterator[C]:
    """An aiokafka consumer, producer or admin client, started and closed on the way out -- also
    when start() fails, which leaves it open otherwise ("Unclosed AIOKafkaConsumer" at exit)."""
    try:
        await client.start()
        yield client
    finally:
        await (client.close() if hasattr(client, "close") else client.stop())  # admin: close; others: stop


def run_client(main: Coroutine[Any, Any, T], bootstrap: str) -> T:
    """Run a one-shot command against a broker (`topics create`, `produce`, `tail`). A Kafka error
    becomes a BrokerError, which the CLI prints as one line, not a traceback."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    # aiokafka logs each failed connection attempt itself ("Unable connect to ..."); here the
    # failure that matters surfaces as the exception, said once below
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(main)
    except KafkaConnectionError:
        raise BrokerError(
            f"cannot connect to Kafka at {bootstrap} (is a broker running there? --bootstrap "
            "HOST:PORT or TRIPGUARD_BOOTSTRAP names it)"
        ) from None
    except KafkaError as exc:
        raise BrokerError(f"Kafka at {bootstrap}: {exc}") from None


async def run_child(*args: str) -> tuple[int, bytes]:
    """`python ARGS` as a child process, awaited without blocking the event loop; (exit code,
    stderr). Killed at once when the awaiting task is cancelled (Ctrl-C), so none is left behind."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await child.communicate()
        return cast(int, child.returncode), err  # set once communicate() returns
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def require_bootstrap(settings: Settings) -> str:
    if not settings.bootstrap:
        raise ConfigError(
            "no broker: give --bootstrap HOST:PORT or set TRIPGUARD_BOOTSTRAP (a worker started "
            "without one logs the address of its embedded broker)"
        )
    return settings.bootstrap


async def run_worker(settings: Settings) -> int:
    from tripguard.runtime import tune_gc_for_throughput
    from tripguard.stream.worker import Worker

    tune_gc_for_throughput()
    async with broker_for(settings) as (bootstrap, embedded):
        worker = Worker(settings, bootstrap, create_missing_topics=settings.create_topics or embedded)
        return await worker.run()
