"""`tripguard risk`: the driver-risk stage on Kafka (docs/risk.md, docs/streaming.md).

Two consumer groups in one process:

- the repartitioner (group `<risk_group>.repartition`) reads tripguard.verdicts and
  tripguard.decisions (keyed by trip_id), checks each record against the contract and forwards it
  to tripguard.by-driver keyed by driver_id (header `kind`: verdict or decision; `source`: the
  verdict's upstream partition). After each batch it sends, to every by-driver partition, a
  *mark* per upstream verdict partition (the latest verdict ts it forwarded from there), so that
  a by-driver partition whose drivers one upstream partition never sees still learns how far that
  partition has got. Input offsets are committed once the forwarded records are acknowledged
  (at-least-once: a repeat is a duplicate the stage drops). A malformed record goes to the
  dead-letter topic with the reason.
- the stage (group `<risk_group>`) reads tripguard.by-driver; each assigned partition p has a
  RiskStage (tripguard.risk.stage: event-time order, duplicates dropped, bad decisions rejected),
  whose driver histories and marks live in partition p of the risk changelog, written by the
  same checkpoint as the trip state (tripguard.stream.checkpoint: outputs acknowledged ->
  changelog records and marker -> offsets committed) and restored on assignment by the same
  restore (tripguard.stream.restore). The committed offset is the least offset of a record the
  stage still holds back (it is not state): after a crash everything from there is read again,
  and what the restored histories already hold is dropped as a duplicate. driver_risk events go
  to tripguard.driver-risk keyed by driver_id, with deterministic event ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from tripguard.config.files import CityTables
from tripguard.config.settings import Settings
from tripguard.contract import Verdict
from tripguard.errors import ContractError
from tripguard.io.codec import dumps
from tripguard.risk.offline import lateness_ms
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, StageOutput, parse
from tripguard.stream.changelog import MAX_RECORD_BYTES, read_partition
from tripguard.stream.checkpoint import ChangelogPosition, Checkpointer
from tripguard.stream.publisher import Publisher
from tripguard.stream.restore import restore
from tripguard.stream.retry import BACKOFF_FIRST_S, BACKOFF_MAX_S, run_until_stopped, sleep_unless_stopped
from tripguard.stream.topics import cluster_id, create_topics
from tripguard.stream.worker import _Listener  # the rebalance callbacks, as the trip worker's

log = logging.getLogger("tripguard.risk")

STORE = "driver-risk"
MARK = "mark"


def source_name(topic: str, partition: int) -> str:
    return f"{topic}[{partition}]"


def dead_letter(publisher: Publisher, topic: str, record: Any, reason: str) -> None:
    publisher.send(
        topic,
        record.key,
        record.value,
        [
            ("error", reason.encode()[:1000]),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ],
    )


class RiskPartition:
    """One by-driver partition's stage and what its checkpoint needs (tripguard.stream.checkpoint.PartitionState)."""

    def __init__(
        self,
        partition: int,
        stage: RiskStage,
        topic: str,
        next_read: int,
        owed: dict[bytes, bytes | None] | None = None,
    ):
        self.partition, self.stage, self.topic, self.next_read = partition, stage, topic, next_read
        self.owed: dict[bytes, bytes | None] = dict(owed or {})  # changelog records not acknowledged yet
        self.saved: dict[str, int] | None = None

    def needs_checkpoint(self) -> bool:
        return bool(self.owed or self.stage.changed or self.stage.marks_changed) or self.resume_offsets() != self.saved

    def resume_offsets(self) -> dict[str, int]:
        held = self.stage.resume_offset()
        return {self.topic: self.next_read if held is None else held}

    def changed_state(self) -> list[tuple[bytes, bytes | None]]:
        self.owed.update(self.stage.changes())
        return sorted(self.owed.items())

    def state_saved(self, offsets: dict[str, int]) -> None:
        self.owed.clear()
        self.saved = dict(offsets)


class RiskWorker:
    consumer: AIOKafkaConsumer  # the four clients: None until start (aiokafka is untyped: Any)
    repartition_consumer: AIOKafkaConsumer
    restore_consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer

    def __init__(self, settings: Settings, bootstrap: str, create_missing_topics: bool = False):
        self.settings, self.bootstrap, self.create_missing_topics = settings, bootstrap, create_missing_topics
        self.cities = CityTables.load(settings.cities)  # bad city tables fail here, before joining
        self.lateness = lateness_ms(int(settings.idle_timeout_s * 1000), int(settings.end_grace_s * 1000))
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self.parts: dict[int, RiskPartition] = {}
        self.awaiting: set[int] = set()
        self.sources: list[str] = []
        self.marks: dict[str, int] = {}  # the repartitioner's: upstream source -> latest verdict ts forwarded
        self.marks_sent: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.cluster: str | None = None
        self.last_checkpoint_at = time.monotonic()
        self.consumer = self.repartition_consumer = self.restore_consumer = self.producer = None

    # ---- life cycle -----------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            await self._prepare()
            await run_until_stopped(self._step, self.stopping, log, "risk")
            async with self.lock:
                ok = await self._checkpoint()
            log.info("stopping: final checkpoint %s", "done" if ok else "FAILED")
            return 0
        finally:
            for client in (self.consumer, self.repartition_consumer, self.restore_consumer, self.producer):
                if client is None:
                    continue
                try:
                    await asyncio.wait_for(client.stop(), 15)
                except Exception as exc:
                    log.warning("closing %s: %r", type(client).__name__, exc)

    async def _sleep(self, seconds: float) -> None:
        await sleep_unless_stopped(self.stopping, seconds)

    async def _prepare(self) -> None:
        s = self.settings
        backoff = BACKOFF_FIRST_S
        while not self.stopping.is_set():
            try:
                if self.create_missing_topics:
                    await create_topics(self.bootstrap, s)
                self.cluster = await cluster_id(self.bootstrap)
                break
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("broker %s not reachable yet (%r); retrying in %.1f s", self.bootstrap, exc, backoff)
                await self._sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        common = dict(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=20_000,
            retry_backoff_ms=200,
        )
        self.repartition_consumer = AIOKafkaConsumer(
            group_id=f"{s.risk_group}.repartition",
            fetch_max_wait_ms=100,
            client_id=f"tripguard-risk-{self.worker_id}-repartition",
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
            **common,
        )
        self.consumer = AIOKafkaConsumer(
            group_id=s.risk_group,
            fetch_max_wait_ms=100,
            client_id=f"tripguard-risk-{self.worker_id}",
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
            **common,
        )
        self.restore_consumer = AIOKafkaConsumer(
            group_id=None,
            fetch_max_wait_ms=50,
            client_id=f"tripguard-risk-{self.worker_id}-restore",
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            **common,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,
            enable_idempotence=s.idempotent_producer,
            max_request_size=MAX_RECORD_BYTES + (1 << 16),
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
            client_id=f"tripguard-risk-{self.worker_id}",
        )
        self.publisher = Publisher(self.producer)
        self.checkpointer = Checkpointer(
            self.producer,
            self.consumer,
            self.publisher,
            s.risk_changelog_topic,
            self.cluster,
            self.worker_id,
            store=STORE,
        )
        for client in (self.producer, self.restore_consumer, self.repartition_consumer, self.consumer):
            await client.start()
        await self.consumer.topics()
        verdict_parts = self.consumer.partitions_for_topic(s.verdicts_topic) or {0}
        self.sources = [source_name(s.verdicts_topic, p) for p in sorted(verdict_parts)]
        self.repartition_consumer.subscribe([s.verdicts_topic, s.decisions_topic])
        self.consumer.subscribe([s.by_driver_topic], listener=_Listener(self))
        log.info(
            "driver-risk stage: %s + %s -> %s -> %s; state in %s; %d upstream verdict partition(s); group %s",
            s.verdicts_topic,
            s.decisions_topic,
            s.by_driver_topic,
            s.driver_risk_topic,
            s.risk_changelog_topic,
            len(self.sources),
            s.risk_group,
        )

    # ---- one turn: repartition, then the stage ---------------------------------------------------

    async def _step(self) -> None:
        await self._repartition()
        records = await self.consumer.getmany(
            timeout_ms=self.settings.batch_max_ms, max_records=self.settings.batch_max_records
        )
        async with self.lock:
            await self._restore_awaiting()
            for tp, batch in records.items():
                part = self.parts.get(tp.partition)
                if part is None:
                    continue
                for record in batch:
                    if record.offset < part.next_read:
                        continue  # fetched before a seek back
                    self._ingest(part, record)
                    part.next_read = record.offset + 1
            await self.publisher.pump()
            if time.monotonic() - self.last_checkpoint_at >= self.settings.checkpoint_interval_s:
                await self._checkpoint()

    async def _repartition(self) -> None:
        s = self.settings
        batches = await self.repartition_consumer.getmany(timeout_ms=s.batch_max_ms, max_records=s.batch_max_records)
        if not batches:
            return
        futures = []
        dead = Publisher(self.producer)
        for tp, records in batches.items():
            kind = VERDICT if tp.topic == s.verdicts_topic else DECISION
            source = source_name(tp.topic, tp.partition)
            for record in records:
                try:
                    r = parse(kind, record.value)
                except ContractError as exc:
                    dead_letter(dead, s.dlq_topic, record, f"{kind}: {exc}")
                    continue
                headers = [("kind", kind.encode()), ("source", source.encode())]
                futures.append(
                    await self.producer.send(
                        s.by_driver_topic,
                        record.value,
                        key=r.driver_id.encode("utf-8", "surrogatepass"),
                        headers=headers,
                    )
                )
                if kind == VERDICT and cast(Verdict, r).ts > self.marks.get(source, -(2**62)):
                    self.marks[source] = cast(Verdict, r).ts
        partitions = sorted(await self.producer.partitions_for(s.by_driver_topic))
        for source, ts in sorted(self.marks.items()):
            if self.marks_sent.get(source) == ts:
                continue
            for p in partitions:
                futures.append(
                    await self.producer.send(
                        s.by_driver_topic,
                        str(ts).encode(),
                        key=source.encode(),
                        partition=p,
                        headers=[("kind", MARK.encode()), ("source", source.encode())],
                    )
                )
        await asyncio.gather(*futures)
        if not await dead.drain(15.0):
            raise KafkaError("dead letters not acknowledged")
        self.marks_sent.update(self.marks)
        await self.repartition_consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})

    def _ingest(self, part: RiskPartition, record: Any) -> None:
        headers = dict(record.headers or ())
        kind = headers.get("kind", b"").decode("utf-8", "replace")
        source = headers.get("source", b"").decode("utf-8", "replace") or None
        try:
            if kind == MARK:
                out = part.stage.mark(cast(str, source), int(record.value))
            elif kind in (VERDICT, DECISION):
                item = Input(
                    kind, parse(kind, record.value), record, source if kind == VERDICT else None, record.offset
                )
                out = part.stage.add(item)
            else:
                raise ContractError("kind", "a by-driver record needs a kind header: verdict, decision or mark")
        except (ContractError, ValueError, TypeError) as exc:
            dead_letter(self.publisher, self.settings.dlq_topic, record, f"by-driver {kind or 'record'}: {exc}")
            return
        self._publish(out)

    def _publish(self, out: StageOutput) -> None:
        s = self.settings
        for event in out.events:
            self.publisher.send(s.driver_risk_topic, event["driver_id"].encode("utf-8", "surrogatepass"), dumps(event))
        for item, reason in out.rejected:
            dead_letter(self.publisher, s.dlq_topic, item.origin, reason)

    # ---- state ------------------------------------------------------------------------------------

    async def _checkpoint(self) -> bool:
        self.last_checkpoint_at = time.monotonic()
        for p in self.parts:  # where a changelog partition ends after a failed write
            position = self.checkpointer.positions.get(p)
            if position is not None and position.end is None and position.last_good is not None:
                try:
                    _, end = await read_partition(
                        self.restore_consumer,
                        TopicPartition(self.settings.risk_changelog_topic, p),
                        start=position.last_good,
                    )
                    position.end = end
                except (TimeoutError, KafkaError) as exc:
                    log.warning("partition %d: cannot read the risk changelog (%r)", p, exc)
        return await self.checkpointer.checkpoint(dict(self.parts))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            if tp.topic == self.settings.by_driver_topic and tp.partition not in self.parts:
                self.awaiting.add(tp.partition)
                self.consumer.pause(tp)
        log.info("assigned by-driver partitions %s", sorted(tp.partition for tp in assigned))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            gone = {tp.partition for tp in revoked}
            if gone & set(self.parts):
                await self.checkpointer.checkpoint({p: self.parts[p] for p in gone if p in self.parts})
            for p in gone:
                self.parts.pop(p, None)
                self.awaiting.discard(p)
                self.checkpointer.forget(p)

    async def _restore_awaiting(self) -> None:
        if not self.awaiting:
            return
        s = self.settings
        ready = sorted(self.awaiting)
        inputs = [TopicPartition(s.by_driver_topic, p) for p in ready]
        offsets = await asyncio.gather(*(self.consumer.committed(tp) for tp in inputs))
        beginnings = await self.consumer.beginning_offsets(inputs)
        committed = {
            TopicPartition(s.risk_changelog_topic, p): (None if o is None else {s.by_driver_topic: o})
            for p, o in zip(ready, offsets)
        }
        reports = await restore(self.restore_consumer, None, committed, self.cluster, STORE)
        for tp, report in reports.items():
            p = tp.partition
            restored = report.restored
            stage = RiskStage(self.cities, self.sources, self.lateness)
            checkpoint, owed = restored.checkpoint, dict(restored.repair)
            if checkpoint is not None:
                try:
                    stage.load(restored.records)
                except Exception as exc:  # another version's records: set aside, deleted at the next checkpoint
                    log.error("partition %d: risk state cannot be loaded (%r): set aside", p, exc)
                    stage = RiskStage(self.cities, self.sources, self.lateness)
                    owed = {**{k: None for k in restored.records}, **{k: None for k in owed}}
                    checkpoint = None
            elif restored.problem:
                log.warning("partition %d: risk state set aside: %s", p, restored.problem)
            committed_offset = cast("dict[str, Any]", committed[tp])[s.by_driver_topic] if committed[tp] else None
            start = (
                checkpoint.offsets[s.by_driver_topic]
                if checkpoint is not None
                else committed_offset
                if committed_offset is not None
                else beginnings[TopicPartition(s.by_driver_topic, p)]
            )
            part = RiskPartition(p, stage, s.by_driver_topic, start, owed)
            part.saved = dict(checkpoint.offsets) if checkpoint is not None and not owed else None
            self.parts[p] = part
            self.checkpointer.positions[p] = ChangelogPosition(restored.end, restored.end)
            self.awaiting.discard(p)
            source_tp = TopicPartition(s.by_driver_topic, p)
            self.consumer.seek(source_tp, start)
            self.consumer.resume(source_tp)
            log.info(
                "partition %d: restored %d driver(s) from the %s, reading from %d",
                p,
                len(stage.histories),
                report.source,
                start,
            )


async def run_risk(settings: Settings) -> int:
    from tripguard.stream.service import broker_for

    async with broker_for(settings) as (bootstrap, embedded):
        return await RiskWorker(settings, bootstrap, create_missing_topics=settings.create_topics or embedded).run()
