"""Kafka for the review service: consume tripguard.alerts and tripguard.verdicts into SQLite,
publish decisions to tripguard.decisions.

Consuming is at-least-once: a batch is written to the database, then its offsets are committed.
A crash in between replays the batch, and the writes are idempotent (alert_id, trip_id), so a
replayed topic changes nothing. A record that breaks contract v1 goes to tripguard.dlq with
headers naming the error and where it came from; it never stops the feed.

Publishing uses an outbox: a decision is stored first (disputes.published_at NULL), then
claimed by this process, sent and acknowledged, then marked published. A decision made while
the broker is away, or before a restart, is sent when the broker is back; one claimed by another
`serve` process on the same database is left to it (store/disputes.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tripguard.config.settings import Settings
from tripguard.errors import ContractError
from tripguard.io.codec import dumps, loads
from tripguard.review.store import disputes, ingest
from tripguard.review.store.db import opened, transaction

log = logging.getLogger("tripguard.review.kafka")

RETRY_S = 2.0
OUTBOX_POLL_S = 5.0
MAX_BATCH_RECORDS = 500


def make_producer(settings: Settings) -> AIOKafkaProducer:
    # Not idempotent unless configured: the local broker (Tansu) rejects InitProducerId.
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=settings.idempotent_producer,
        linger_ms=5,
    )


class DecisionOutbox:
    """Publishes stored, unpublished decisions in decision order; `wake()` after each decision."""

    def __init__(self, db_path: Path, producer: AIOKafkaProducer, topic: str, lease_ms: int = disputes.CLAIM_MS):
        self.db_path = db_path
        self.producer = producer
        self.topic = topic
        self.lease_ms = lease_ms
        self.claimant = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    def _claim(self) -> list[tuple[int, str, bytes]]:
        with opened(self.db_path) as conn:
            return [
                (d["id"], d["trip_id"], dumps(disputes.decision_message(conn, d)))
                for d in disputes.claim_unpublished(conn, self.claimant, lease_ms=self.lease_ms)
            ]

    def _mark(self, dispute_id: int) -> None:
        with opened(self.db_path) as conn:
            disputes.mark_published(conn, dispute_id)

    def _release(self) -> None:
        with opened(self.db_path) as conn:
            disputes.release_claims(conn, self.claimant)

    async def flush(self) -> int:
        sent = 0
        while True:
            claimed_at = time.monotonic()
            pending = await asyncio.to_thread(self._claim)
            if not pending:
                return sent
            for dispute_id, trip_id, value in pending:
                if time.monotonic() - claimed_at > self.lease_ms / 2000:
                    break  # the claim is getting old: renew it before sending on it
                await self.producer.send_and_wait(self.topic, key=trip_id.encode(), value=value)
                await asyncio.to_thread(self._mark, dispute_id)
                sent += 1
                self.published += 1

    async def release(self) -> None:
        await asyncio.to_thread(self._release)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker away: keep the decisions, try again
                log.warning("publishing decisions failed, retrying: %s", exc)
                await asyncio.sleep(RETRY_S)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), OUTBOX_POLL_S)
            except TimeoutError:
                pass


class TopicFeed:
    """Alerts and verdicts from their topics into the database."""

    def __init__(self, db_path: Path, settings: Settings, producer: AIOKafkaProducer):
        self.db_path = db_path
        self.settings = settings
        self.producer = producer
        self.kinds = {settings.alerts_topic: "alert", settings.verdicts_topic: "verdict"}
        self.consumer = AIOKafkaConsumer(
            settings.alerts_topic,
            settings.verdicts_topic,
            bootstrap_servers=settings.bootstrap,
            group_id=f"{settings.group}.review",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.stored = 0
        self.dead_lettered = 0

    def _store(self, items: list[tuple[str, dict]]) -> list[tuple[int, ContractError]]:
        """One transaction for the batch; returns (index, error) of the rejected records."""
        rejected = []
        with opened(self.db_path) as conn, transaction(conn):
            for i, (kind, obj) in enumerate(items):
                try:
                    if kind == "alert":
                        ingest.ingest_alert(conn, obj)
                    else:
                        ingest.ingest_verdict(conn, obj)
                except ContractError as exc:
                    rejected.append((i, exc))
        return rejected

    async def _dead_letter(self, record, error: ContractError) -> None:
        headers = [
            ("error", str(error).encode()),
            ("error_field", error.field.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
            ("service", b"review"),
        ]
        await self.producer.send_and_wait(
            self.settings.dlq_topic,
            key=record.key,
            value=record.value if record.value is not None else b"",
            headers=headers,
        )
        self.dead_lettered += 1
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, error)

    async def handle(self, records: list) -> None:
        items, sources, bad = [], [], []
        for record in records:
            try:
                obj = loads(record.value)
                items.append((self.kinds[record.topic], obj))
                sources.append(record)
            except ContractError as exc:
                bad.append((record, exc))
        rejected = await asyncio.to_thread(self._store, items)
        bad.extend((sources[i], exc) for i, exc in rejected)
        for record, error in bad:
            await self._dead_letter(record, error)
        self.stored += len(items) - len(rejected)

    async def run(self) -> None:
        while True:
            batch: dict = {}
            try:
                batch = await self.consumer.getmany(timeout_ms=1000, max_records=MAX_BATCH_RECORDS)
                records = [r for part in batch.values() for r in part]
                if records:
                    await self.handle(records)
                    await self.consumer.commit()  # after the batch is stored: at-least-once
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consuming alerts/verdicts failed, retrying the batch: %s", exc)
                # Rewind to the batch's first records, or the next fetch would skip it (the
                # in-memory position has moved on; writes are idempotent, so a redo is safe).
                for tp, part in batch.items():
                    if part:
                        try:
                            self.consumer.seek(tp, part[0].offset)
                        except Exception:  # partition revoked meanwhile: its new owner redoes it
                            pass
                await asyncio.sleep(RETRY_S)


class ReviewKafka:
    """Starts the feed and the outbox on one producer; stops them in order."""

    def __init__(self, db_path: Path, settings: Settings):
        if not settings.bootstrap:
            raise ValueError("ReviewKafka needs settings.bootstrap")
        self.db_path = Path(db_path)
        self.settings = settings
        self.producer = make_producer(settings)
        self.outbox = DecisionOutbox(self.db_path, self.producer, settings.decisions_topic)
        self.feed = TopicFeed(self.db_path, settings, self.producer)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.producer.start()
        await self.feed.consumer.start()
        self._tasks = [
            asyncio.create_task(self.feed.run(), name="review-feed"),
            asyncio.create_task(self.outbox.run(), name="review-outbox"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await asyncio.wait_for(
                self.outbox.flush(), 10.0
            )  # what was decided is sent before the process exits, if possible
        except Exception as exc:
            log.warning("decisions not published at shutdown (sent at next start): %s", exc)
        try:
            await self.outbox.release()
        except Exception as exc:  # the claims lapse by themselves
            log.warning("could not release the outbox's claims: %s", exc)
        await self.feed.consumer.stop()
        await self.producer.stop()
