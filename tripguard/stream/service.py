"""Process-level plumbing shared by `run`, `produce`, `tail` and `demo`: logging, the broker to talk
to (the given one, or an embedded Tansu), and running a coroutine to completion."""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

from tripguard.errors import ConfigError
from tripguard.settings import Settings

log = logging.getLogger("tripguard.stream")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    await asyncio.to_thread(broker.start)
    try:
        log.info("no --bootstrap and no TRIPGUARD_BOOTSTRAP: started the embedded Kafka-protocol broker (Tansu, "
                 "data in memory only) on %s", broker.bootstrap)
        created = await create_topics(broker.bootstrap, settings)
        log.info("created topics %s with %d partitions", ", ".join(created), settings.partitions)
        yield broker.bootstrap, True
    finally:
        await asyncio.to_thread(broker.stop)


def require_bootstrap(settings: Settings) -> str:
    if not settings.bootstrap:
        raise ConfigError("no broker: give --bootstrap HOST:PORT or set TRIPGUARD_BOOTSTRAP (a worker started "
                          "without one logs the address of its embedded broker)")
    return settings.bootstrap


async def run_worker(settings: Settings) -> int:
    from tripguard.runtime import tune_gc_for_throughput
    from tripguard.stream.worker import Worker

    tune_gc_for_throughput()
    async with broker_for(settings) as (bootstrap, embedded):
        worker = Worker(settings, bootstrap, create_missing_topics=settings.create_topics or embedded)
        return await worker.run()
