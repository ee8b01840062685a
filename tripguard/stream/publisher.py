"""Outputs (alerts, verdicts, dead letters) on their way to Kafka, until the broker confirms them.

Every message stays in the outbox until its delivery is acknowledged (acks=all); a failed
delivery is sent again. A checkpoint first drains the outbox (`drain`), so trip state and input
offsets are persisted only after everything they imply has been delivered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

if TYPE_CHECKING:
    from tripguard.stream.metrics import WorkerMetrics

log = logging.getLogger("tripguard.stream")


@dataclass(slots=True)
class Envelope:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, metrics: WorkerMetrics | None = None):
        self.producer = producer
        self.metrics = metrics
        self.queued: list[Envelope] = []  # not handed to the producer yet (or to be re-sent)
        self.inflight: list[tuple[Envelope, asyncio.Future[Any]]] = []

    def __len__(self) -> int:
        return len(self.queued) + len(self.inflight)

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        self.queued.append(Envelope(topic, key, value, headers))

    async def pump(self) -> None:
        """Hand queued messages to the producer (it batches them); does not wait for acks."""
        while self.queued:
            env = self.queued[0]
            fut = await self.producer.send(env.topic, env.value, key=env.key, headers=env.headers)
            self.queued.pop(0)
            self.inflight.append((env, fut))
        self.reap()

    def reap(self) -> None:
        """Forget delivered messages; queue the failed ones again."""
        still = []
        for env, fut in self.inflight:
            if not fut.done():
                still.append((env, fut))
            elif fut.cancelled() or fut.exception() is not None:
                err = "cancelled" if fut.cancelled() else repr(fut.exception())
                log.warning("delivery to %s failed (%s); sending it again", env.topic, err)
                if self.metrics:
                    self.metrics.delivery_retries.inc()
                self.queued.append(env)
            # else delivered
        self.inflight = still

    async def drain(self, timeout_s: float) -> bool:
        """Send everything and wait until every message is acknowledged. False when that did not
        happen within timeout_s (the messages stay in the outbox)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                await asyncio.wait_for(self.pump(), max(0.01, deadline - loop.time()))
            except TimeoutError:
                return False
            except KafkaError as exc:  # e.g. no metadata for the topic while the broker is away
                log.warning("cannot hand output to the producer yet: %r", exc)
            if self.inflight:
                await asyncio.wait([f for _, f in self.inflight], timeout=max(0.0, deadline - loop.time()))
                self.reap()
            if not self.queued and not self.inflight:
                return True
            if loop.time() >= deadline:
                return False
            if self.queued:
                await asyncio.sleep(min(0.5, max(0.0, deadline - loop.time())))
