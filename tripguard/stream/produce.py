"""`tripguard produce`: the inputs of `tripguard replay` onto the pings and trips topics.

The same reading and merge as replay (`tripguard.io.inputs`), so a worker sees what replay sees.
Each message goes out as it was read (`Message.raw`: a malformed line reaches the topic as it
is, and the worker dead-letters it), keyed by its trip_id when that can be read, else unkeyed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiokafka import AIOKafkaProducer

from tripguard.config.settings import Settings
from tripguard.errors import TripguardError
from tripguard.io.inputs import PINGS, TRIPS, merge_on_ts, partition_of, read_messages
from tripguard.stream.topics import check_copartitioned


@dataclass
class ProduceSummary:
    messages: int = 0
    pings: int = 0
    trip_events: int = 0
    unkeyed: int = 0
    elapsed_s: float = 0.0

    def line(self) -> str:
        rate = self.pings / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"produced {self.messages} messages ({self.pings} pings, {self.trip_events} trip events, "
            f"{self.unkeyed} without a readable trip_id) in {self.elapsed_s:.1f} s, {rate:.0f} pings/s"
        )


def trip_id_of(value: Any) -> str | None:
    obj = value[0] if isinstance(value, list) and value else value
    if isinstance(obj, dict):
        trip_id = obj.get("trip_id")
        if isinstance(trip_id, str) and trip_id:
            return trip_id
    return None


def pings_in(value: Any) -> int:
    return len(value) if isinstance(value, list) and value else 1


async def produce(
    bootstrap: str,
    settings: Settings,
    pings: Path,
    trips: Path,
    rate: float | None = None,
    progress: Callable[[ProduceSummary], object] | None = None,
) -> ProduceSummary:
    """Send the merged inputs; rate = pings per second (None: as fast as the broker takes them)."""
    n_partitions = await check_copartitioned(bootstrap, settings)  # refuse missing or broken topics
    stream = merge_on_ts(read_messages(pings, PINGS), read_messages(trips, TRIPS))
    # linger 0: a topic switch waits for the other topic's last send (below), so no batch should sit
    # waiting for company; under load the producer still batches what accumulates meanwhile
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=0,
        request_timeout_ms=30_000,
    )
    unkeyed = itertools.cycle(range(n_partitions))
    # Kafka orders a partition, not two topics: batches of pings-p and trips-p may reach the broker
    # in either order. Replay's order is kept per partition by letting a message wait until the
    # other topic's last message on the same partition is acknowledged (a trip_started is on the
    # broker before the trip's first ping is sent). The worker's aligner relies on this to equal
    # replay on a live stream.
    last_sent: dict[tuple[str, int], asyncio.Future[Any]] = {}
    await producer.start()
    summary = ProduceSummary()
    failures: list[BaseException] = []
    pending: set[asyncio.Future[Any]] = set()

    def done(fut: asyncio.Future[Any]) -> None:
        pending.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            failures.append(cast(BaseException, fut.exception()))

    started = time.monotonic()
    try:
        for m in stream:
            key = trip_id_of(m.value)
            key_bytes = key.encode() if key else None
            topic, other = (
                (settings.pings_topic, settings.trips_topic)
                if m.source == PINGS
                else (settings.trips_topic, settings.pings_topic)
            )
            partition = partition_of(key_bytes, n_partitions) if key_bytes else next(unkeyed)
            before = last_sent.pop((other, partition), None)
            if before is not None and not before.done():
                await asyncio.wait([before])
            fut = await producer.send(topic, m.raw, key=key_bytes, partition=partition)
            last_sent[(topic, partition)] = fut
            pending.add(fut)
            fut.add_done_callback(done)
            summary.messages += 1
            summary.unkeyed += key is None
            if m.source == PINGS:
                summary.pings += pings_in(m.value)
                if rate:
                    ahead_s = started + summary.pings / rate - time.monotonic()
                    if ahead_s > 0:
                        await asyncio.sleep(ahead_s)
            else:
                summary.trip_events += 1
            if failures:
                break
            if progress and summary.messages % 10_000 == 0:
                progress(summary)
        await producer.flush()
        if pending:
            await asyncio.wait(list(pending))
    finally:
        await producer.stop()
    summary.elapsed_s = time.monotonic() - started
    if failures:
        raise TripguardError(f"delivery failed after {summary.messages} messages: {failures[0]!r}")
    return summary
