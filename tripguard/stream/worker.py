"""`tripguard run`: the streaming worker.

Reads tripguard.pings and tripguard.trips as a member of a consumer group and runs one Engine per
assigned input partition (pings and trips are co-partitioned by trip_id, so partition p of both
topics is an independent stream with its own watermark, checkpoint and hand-over). For each
partition an Aligner releases the records of the two topics in event-time order (the same merge
as replay). Everything released in one loop turn is one engine batch per partition.

Outputs go through a Publisher (outbox) to tripguard.alerts / .verdicts / .dlq. Checkpoint order:
drain the outbox (every delivery acknowledged) -> persist each owned partition's snapshot (which
carries the input offsets it corresponds to) -> commit those offsets. See docs/streaming.md.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from tripguard.batch import BatchBuilder
from tripguard.codec import decode_pings, decode_trip_event, dumps
from tripguard.engine import Engine, Output, restore_engine, snapshot_engine
from tripguard.errors import ContractError
from tripguard.replay import make_engine
from tripguard.settings import Settings
from tripguard.stream.aligner import PINGS, TRIPS, Aligner, Pending
from tripguard.stream.metrics import HttpEndpoint, WorkerMetrics
from tripguard.stream.publisher import Publisher
from tripguard.stream.store import PartitionStore
from tripguard.stream.warmup import warm_up_off_loop
from tripguard.stream.topics import MissingTopics, check_copartitioned, create_topics

log = logging.getLogger("tripguard.stream")

SIDES = (PINGS, TRIPS)
DRAIN_TIMEOUT_S = 15.0
TOPIC_CHECK_S = 5.0
BACKOFF_MAX_S = 10.0
ENGINE_RETRY_MAX_S = 60.0


@dataclass
class PartitionState:
    partition: int
    engine: Engine
    # per side: offset after the last record read (where reading resumes); None until the consumer
    # has resolved a partition that starts from the group's committed offset (or the beginning)
    next_read: dict[str, int | None]
    aligner: Aligner = field(default_factory=Aligner)
    last_record_at: float = field(default_factory=time.monotonic)
    pause_closed: bool = False  # close_ended already ran during the current pause
    engine_dirty: bool = False
    saved_offsets: dict[str, int] | None = None
    checkpoint_id: str | None = None  # id of the snapshot this state was written as or restored from
    hold_until: float = 0.0  # after an engine error: retry not before this (monotonic)
    errors: int = 0

    def offsets(self) -> dict[str, int] | None:
        """Per side, the first record NOT yet given to the engine (the aligner may hold records
        already read): where a restored copy of this state must resume. None while a position is
        still unknown."""
        out = {}
        for side in SIDES:
            first = self.aligner.first_offset(side)
            out[side] = first if first is not None else self.next_read[side]
        return None if None in out.values() else out


class _Listener(ConsumerRebalanceListener):
    def __init__(self, worker: "Worker"):
        self.worker = worker

    async def on_partitions_revoked(self, revoked):
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned):
        await self.worker.on_assigned(assigned)


class Worker:
    def __init__(self, settings: Settings, bootstrap: str, create_missing_topics: bool | None = None):
        self.settings = settings
        self.bootstrap = bootstrap
        self.create_missing_topics = settings.create_topics if create_missing_topics is None else create_missing_topics
        self.topic = {PINGS: settings.pings_topic, TRIPS: settings.trips_topic}
        self.side_of = {settings.pings_topic: PINGS, settings.trips_topic: TRIPS}
        self._new_engine()  # bad tariffs or city tables fail here, before joining the group
        self.store = PartitionStore(settings.state_dir, settings.group)
        self.metrics = WorkerMetrics()
        self.http = HttpEndpoint(self.metrics, self.health, host=settings.metrics_host, port=settings.metrics_port)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self.parts: dict[int, PartitionState] = {}
        self.parked: dict[int, PartitionState] = {}  # revoked without a checkpoint (broker away)
        self.lock = asyncio.Lock()
        self.generation = 0  # bumped by every rebalance callback
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.publisher: Publisher | None = None
        self.last_loop_at = time.monotonic()
        self.last_checkpoint_at = time.monotonic()
        self.last_topic_check_at = 0.0
        self.inputs_recreated_at_ms = 0  # when this worker last re-created the input topics
        self.buffer_limit = max(2 * settings.batch_max_records, 1000)

    # ---- life cycle -----------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_requested, sig)
        port = await self.http.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", self.http.host, port)
        try:
            partitions = await self._prepare_topics()
            if partitions is None:
                return 0  # stopped while waiting for the broker
            log.info("%s and %s have %d partitions each (co-partitioned by trip_id); group %s, worker %s",
                     self.topic[PINGS], self.topic[TRIPS], partitions, self.settings.group, self.worker_id)
            try:
                seconds = await warm_up_off_loop(self._new_engine(), self.stopping)
                if seconds is None:
                    return 0  # stopped during the compile
                log.info("engine ready (kernels compiled or loaded from the cache) in %.1f s", seconds)
            except Exception:  # the batches will show whether it is real; they are handled one by one
                log.exception("engine warm-up failed")
            await self._start_clients()
            backoff = 0.5
            while not self.stopping.is_set():
                try:
                    await self._step()
                    backoff = 0.5
                except KafkaError as exc:
                    self.metrics.broker_errors.inc()
                    log.warning("Kafka error (%r); retrying in %.1f s", exc, backoff)
                    await self._sleep(backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                except Exception:  # a bug must not stop the stream; nothing is committed past it
                    self.metrics.batch_errors.inc()
                    log.exception("unexpected error in the worker loop; retrying in %.1f s", backoff)
                    await self._sleep(backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
            async with self.lock:
                ok = await self._checkpoint(set(self.parts))
            log.info("stopping: final checkpoint %s", "done" if ok else "FAILED (deliveries not confirmed)")
            return 0
        finally:
            await self._stop_clients()
            await self.http.stop()

    def _stop_requested(self, sig) -> None:
        log.info("%s received: finishing the current batch, then a final checkpoint", signal.Signals(sig).name)
        self.stopping.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _prepare_topics(self) -> int | None:
        """Create the topics when configured, then check co-partitioning. Retries while the broker
        is unreachable; a partition-count mismatch is a ConfigError (the worker refuses to start)."""
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                if self.create_missing_topics:
                    created = await create_topics(self.bootstrap, self.settings)
                    if created:
                        log.info("created topics %s on %s", ", ".join(created), self.bootstrap)
                return await check_copartitioned(self.bootstrap, self.settings)
            except MissingTopics:
                if not self.create_missing_topics:
                    raise
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                log.warning("broker %s not reachable yet (%r); retrying in %.1f s", self.bootstrap, exc, backoff)
            await self._sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
        return None

    async def _start_clients(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=s.group,
            client_id=f"tripguard-{self.worker_id}",
            enable_auto_commit=False,  # manual commits only, after the state they belong to
            auto_offset_reset="earliest",  # also the answer to OffsetOutOfRange (topic re-created)
            # Range gives partition p of both topics to the same member (co-partitioning);
            # round-robin would split a trip's pings and events between workers.
            partition_assignment_strategy=(RangePartitionAssignor,),
            metadata_max_age_ms=5000,  # notice re-created topics quickly
            # an idle fetch returns after this: the aligner waits for one fresh answer of the other
            # topic before it releases a record alone, so this bounds that wait
            fetch_max_wait_ms=100,
            session_timeout_ms=6_000,  # a SIGKILLed member's partitions move on after this
            heartbeat_interval_ms=1_000,
            request_timeout_ms=20_000,
            retry_backoff_ms=200,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"tripguard-{self.worker_id}",
            acks="all",
            enable_idempotence=s.idempotent_producer,
            linger_ms=5,
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
        )
        self.publisher = Publisher(self.producer, self.metrics)
        backoff = 0.5
        while True:
            try:
                await self.producer.start()
                await self.consumer.start()
                break
            except (KafkaError, OSError) as exc:
                log.warning("cannot connect to %s (%r); retrying in %.1f s", self.bootstrap, exc, backoff)
                await self._sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        self.consumer.subscribe([self.topic[PINGS], self.topic[TRIPS]], listener=_Listener(self))

    async def _stop_clients(self) -> None:
        for client in (self.consumer, self.producer):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.stop(), 15)
            except Exception as exc:  # closing on a dead broker: nothing left to save
                log.warning("closing %s: %r", type(client).__name__, exc)

    # ---- the loop -------------------------------------------------------------------------------

    async def _step(self) -> None:
        s = self.settings
        records = await self.consumer.getmany(timeout_ms=s.batch_max_ms, max_records=s.batch_max_records)
        generation = self.generation
        async with self.lock:
            if generation != self.generation:
                # A rebalance callback ran while we waited for the lock: these records may predate
                # its seeks. Drop them and read again from where each owned partition really is.
                self._seek_to_next_read()
                return
            await self._resolve_starts()
            now = time.monotonic()
            for tp, batch in records.items():
                st = self.parts.get(tp.partition)
                side = self.side_of.get(tp.topic)
                if st is None or side is None:
                    continue
                self.metrics.records.labels(tp.topic).inc(len(batch))
                for record in batch:
                    self._ingest(st, side, record, now)
            await self._rewind_truncated_logs()
            for st in list(self.parts.values()):
                self._advance(st, now)
            await self.publisher.pump()  # hand outputs to the producer (and re-send failed ones)
            if now - self.last_checkpoint_at >= s.checkpoint_interval_s:
                await self._checkpoint(set(self.parts))
            self._update_gauges()
            self.last_loop_at = time.monotonic()
        if self.create_missing_topics and time.monotonic() - self.last_topic_check_at >= TOPIC_CHECK_S:
            await self._recreate_missing_topics()

    async def _rewind_truncated_logs(self) -> None:
        """A position past the partition's end means its log was lost (an in-memory broker restarted
        and the topic was re-created). Apache Kafka answers such a fetch with OffsetOutOfRange and
        auto_offset_reset handles it; Tansu just returns nothing, so we reset to the beginning."""
        for st in self.parts.values():
            for side in SIDES:
                tp = self._tp(side, st.partition)
                hw = self.consumer.highwater(tp)
                if hw is None or st.next_read[side] is None or st.next_read[side] <= hw:
                    continue
                start = (await self.consumer.beginning_offsets([tp]))[tp]
                log.warning("%s[%d]: position %d is past the end of the log (%d): the topic was re-created; "
                            "reading it from offset %d", tp.topic, tp.partition, st.next_read[side], hw, start)
                self.consumer.seek(tp, start)
                st.next_read[side] = start

    async def _recreate_missing_topics(self) -> None:
        """Tansu keeps topics in memory: after a broker restart they are gone. Put them back."""
        self.last_topic_check_at = time.monotonic()
        try:
            created = await asyncio.wait_for(create_topics(self.bootstrap, self.settings), 15)
        except (KafkaError, OSError, asyncio.TimeoutError) as exc:
            log.warning("topic check on %s failed (%r)", self.bootstrap, exc)
            return
        if created:
            log.warning("topics %s were missing on %s (broker restarted?): re-created them",
                        ", ".join(created), self.bootstrap)
        if set(created) & set(self.topic.values()):
            await self._inputs_recreated()

    async def _inputs_recreated(self) -> None:
        """The input topics are new and empty: every offset we hold belongs to the lost ones. The
        trip state stays; reading starts at the beginning of the new topics (offset 0)."""
        async with self.lock:
            self.inputs_recreated_at_ms = int(time.time() * 1000)
            self.generation += 1  # records fetched before this point are from the old topics
            for st in self.parts.values():
                held = st.aligner.release(math.inf, math.inf)  # read before the loss: use them, they are gone
                if held:
                    self._process(st, held)
                st.next_read = {side: 0 for side in SIDES}
                st.engine_dirty = True
                for side in SIDES:
                    try:
                        self.consumer.seek(self._tp(side, st.partition), 0)
                    except Exception:  # not assigned any more: the next assignment seeks
                        pass

    def _tp(self, side: str, partition: int) -> TopicPartition:
        return TopicPartition(self.topic[side], partition)

    def _ingest(self, st: PartitionState, side: str, record, now: float) -> None:
        """Decode one record: a poison one goes to the DLQ at once, a good one waits in the aligner."""
        st.next_read[side] = record.offset + 1
        st.last_record_at = now
        st.pause_closed = False
        rows = event = None
        try:
            if side == PINGS:
                rows = decode_pings(record.value)
                trip_id, ts = rows[0].trip_id, rows[0].ts
            else:
                event = decode_trip_event(record.value)
                trip_id, ts = event.trip_id, event.ts
        except ContractError as exc:
            self._dead_letter(record, str(exc))
            return
        except Exception as exc:  # a decoder bug must not stop the stream: the message is kept
            log.exception("unexpected error decoding %s[%d]@%d", record.topic, record.partition, record.offset)
            self._dead_letter(record, f"undecodable: {exc!r}")
            return
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        if key != trip_id:
            self._dead_letter(record, f"key: must be the message's trip_id {trip_id!r} (pings and trips are "
                                      f"co-partitioned by it), got {key!r}")
            return
        st.aligner.add(Pending(side, ts, record.offset, record, rows, event, read_at_ms=time.time() * 1000))

    def _dead_letter(self, record, reason: str) -> None:
        headers = [
            ("error", reason.encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        self.publisher.send(self.settings.dlq_topic, record.key, record.value, headers)
        self.metrics.dlq.labels(record.topic).inc()

    def _caught_up_at_ms(self, st: PartitionState, side: str) -> float | None:
        """When the last fetch response showing this side caught up arrived (ms), else None."""
        tp = self._tp(side, st.partition)
        hw = self.consumer.highwater(tp)
        if hw is None or st.next_read[side] is None or st.next_read[side] < hw:
            return None
        return self.consumer.last_poll_timestamp(tp)

    def _advance(self, st: PartitionState, now: float) -> None:
        p = st.partition
        if now < st.hold_until or None in st.next_read.values():
            return
        caught = {side: self._caught_up_at_ms(st, side) for side in SIDES}
        items = st.aligner.release(caught[PINGS], caught[TRIPS])
        if items:
            self._process(st, items)
        elif (not len(st.aligner) and caught[PINGS] is not None and caught[TRIPS] is not None and not st.pause_closed
              and now - st.last_record_at >= self.settings.pause_close_s):
            # The input paused: trips whose trip_ended arrived need not wait for event time.
            st.pause_closed = True
            out = st.engine.close_ended()
            if out.verdicts:
                self.metrics.pause_closes.inc(len(out.verdicts))
                log.info("partition %d: input paused %.0f s, closed %d ended trip(s)", p,
                         now - st.last_record_at, len(out.verdicts))
                self._publish(st, out)
                st.engine_dirty = True
        # Bound the aligner: stop fetching a side that is far ahead of the other.
        for side in SIDES:
            tp = self._tp(side, p)
            held = st.aligner.held(side)
            if held >= self.buffer_limit:
                self.consumer.pause(tp)
            elif held <= self.buffer_limit // 2 and tp in self.consumer.paused():
                self.consumer.resume(tp)

    def _process(self, st: PartitionState, items: list[Pending]) -> None:
        p = st.partition
        builder = BatchBuilder()
        row_item: list[Pending] = []  # the record of each batch row: DLQ and latency
        for it in items:
            if it.rows is not None:
                builder.add_pings(it.rows, p)
                row_item.extend([it] * len(it.rows))
            else:
                builder.add_trip_event(it.event, p)
                row_item.append(it)
        batch = builder.build()
        late_before = st.engine.stats.late_after_close
        started = time.perf_counter()
        try:
            out = st.engine.process(batch)
        except Exception:
            self._engine_failed(st, items)
            return
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.pings.inc(batch.n_pings)
        self.metrics.trip_events.inc(len(batch.events))
        self.metrics.late_after_close.inc(st.engine.stats.late_after_close - late_before)
        st.engine_dirty = True
        st.errors = 0
        self._publish(st, out, batch, row_item)

    @staticmethod
    def _revealed_at_ms(alert: dict, batch, row_item: list[Pending]) -> int | None:
        """Kafka timestamp of the record that revealed the alert: its trip's row at the alert's ts,
        else the trip's latest record in the batch (a trip-end alert). Looked up per alert, which
        is rare, rather than indexed per row on the hot path."""
        if batch is None:
            return None
        trip_id = alert["trip_id"]
        for i in np.flatnonzero(batch.ts == alert["ts"]).tolist():
            if batch.trip_id[i] == trip_id:
                return row_item[i].record.timestamp
        stamps = [row_item[i].record.timestamp for i, t in enumerate(batch.trip_id) if t == trip_id]
        return max(stamps) if stamps else None

    def _publish(self, st: PartitionState, out: Output, batch=None, row_item: list[Pending] = ()) -> None:
        s = self.settings
        for alert in out.alerts:
            self.publisher.send(s.alerts_topic, alert["trip_id"].encode(), dumps(alert))
            self.metrics.alerts.labels(alert["kind"]).inc()
            revealed_ms = self._revealed_at_ms(alert, batch, row_item)
            if revealed_ms is not None and revealed_ms >= 0:
                self.metrics.ping_to_alert_seconds.observe(max(0.0, (alert["detected_at"] - revealed_ms) / 1000))
        for verdict in out.verdicts:
            self.publisher.send(s.verdicts_topic, verdict["trip_id"].encode(), dumps(verdict))
            self.metrics.verdicts.inc()
        done = set()
        for row, reason in out.rejected:
            it = row_item[row]
            if it.offset not in done:
                done.add(it.offset)
                self._dead_letter(it.record, reason)

    def _engine_failed(self, st: PartitionState, items: list[Pending]) -> None:
        """An unexpected engine exception: the engine's state is suspect, so the partition goes back
        to its last checkpoint and reads again from there (nothing is committed past it), after a
        growing pause. The error shows in the log and in tripguard_batch_errors_total."""
        p = st.partition
        st.errors += 1
        delay = min(ENGINE_RETRY_MAX_S, 2.0 ** st.errors)
        self.metrics.batch_errors.inc()
        log.exception("partition %d: the engine raised on a batch of %d records (offsets %s..); rewinding to "
                      "the last checkpoint, retry in %.0f s", p, len(items), items[0].offset, delay)
        fresh = self._restore(p, self.store.load(p))
        if fresh is None:  # never checkpointed: everything read so far is read again
            fresh = PartitionState(p, self._new_engine(), next_read={side: 0 for side in SIDES})
        fresh.errors, fresh.hold_until = st.errors, time.monotonic() + delay
        self.parts[p] = fresh
        for side in SIDES:
            self.consumer.seek(self._tp(side, p), fresh.next_read[side])

    # ---- checkpoints ----------------------------------------------------------------------------

    async def _checkpoint(self, partitions: set[int]) -> bool:
        """Await every pending delivery -> persist each partition's snapshot -> commit offsets."""
        started = time.perf_counter()
        self.last_checkpoint_at = time.monotonic()
        if self.publisher is None:
            return True
        if not await self.publisher.drain(DRAIN_TIMEOUT_S):
            self.metrics.checkpoints_failed.inc()
            log.warning("checkpoint skipped: %d output message(s) not acknowledged within %.0f s",
                        len(self.publisher), DRAIN_TIMEOUT_S)
            return False
        commit = {}
        for p in sorted(partitions):
            st = self.parts.get(p)
            if st is None:
                continue
            offsets = st.offsets()
            if offsets is None:  # nothing read yet and the start position not resolved: nothing to save
                continue
            if st.engine_dirty or offsets != st.saved_offsets:
                cid = uuid.uuid4().hex
                extra = {"checkpoint_id": cid, "offsets": offsets, "topics": self.topic, "group": self.settings.group,
                         "writer": self.worker_id, "written_at_ms": int(time.time() * 1000)}
                try:
                    self.store.save(p, snapshot_engine(st.engine, {p}, extra=extra))
                except OSError as exc:  # disk full, permissions: keep running, commit nothing
                    self.metrics.checkpoints_failed.inc()
                    log.error("checkpoint of partition %d failed: cannot write %s (%s); offsets not committed",
                              p, self.store.path(p), exc)
                    return False
                st.checkpoint_id, st.saved_offsets, st.engine_dirty = cid, offsets, False
            for side in SIDES:
                commit[self._tp(side, p)] = offsets[side]
        if commit:
            try:
                await asyncio.wait_for(self.consumer.commit(commit), 10)
            except (KafkaError, asyncio.TimeoutError) as exc:
                # The snapshot carries the offsets; the group's committed ones are only a fallback.
                log.warning("offset commit failed (%r); the state files hold the offsets", exc)
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)
        return True

    # ---- rebalancing ----------------------------------------------------------------------------

    async def on_revoked(self, revoked) -> None:
        async with self.lock:
            self.generation += 1
            gone = {tp.partition for tp in revoked} & set(self.parts)
            if not gone:
                return
            ok = await self._checkpoint(gone)
            for p in gone:
                st = self.parts.pop(p)
                if not ok:
                    self.parked[p] = st  # newer than its file; reused if it comes back to us
                self.metrics.owned.labels(str(p)).set(0)
                self.metrics.trips_in_state.labels(str(p)).set(0)
            log.info("revoked partitions %s (checkpoint %s)", sorted(gone), "done" if ok else "FAILED: state parked")

    async def on_assigned(self, assigned) -> None:
        async with self.lock:
            self.generation += 1
            sides: dict[int, set[str]] = {}
            for tp in assigned:
                if tp.topic in self.side_of:
                    sides.setdefault(tp.partition, set()).add(self.side_of[tp.topic])
            for p, got in sorted(sides.items()):
                if got != set(SIDES):
                    log.error("partition %d: assigned only %s; co-partitioning needs both topics' partition %d on "
                              "one worker (range assignment, equal partition counts)", p, got, p)
                    self.consumer.pause(*[self._tp(side, p) for side in got])
                    continue
                if p in self.parts:
                    continue
                self.parts[p] = await self._open_partition(p)
                self.metrics.owned.labels(str(p)).set(1)
            self.parked.clear()  # the partitions not given back to us belong to another member now
            log.info("assigned partitions %s", sorted(p for p in sides if p in self.parts))

    async def _open_partition(self, p: int) -> PartitionState:
        blob = self.store.load(p)
        parked = self.parked.pop(p, None)
        if parked is not None and _checkpoint_id(blob) == parked.checkpoint_id:
            offsets = {}
            for side in SIDES:
                first = parked.aligner.first_offset(side)
                offsets[side] = first if first is not None else parked.next_read[side]
                if offsets[side] is not None:
                    self.consumer.seek(self._tp(side, p), offsets[side])
            parked.aligner = Aligner()
            parked.next_read = offsets
            parked.last_record_at = time.monotonic()
            log.info("partition %d: kept its in-memory state (newer than the file), reading from %s", p, offsets)
            return parked
        st = self._restore(p, blob)
        if st is not None:
            for side in SIDES:
                self.consumer.seek(self._tp(side, p), st.next_read[side])
            log.info("partition %d: restored %d live trip(s) from %s, reading from %s", p, st.engine.live_trips,
                     self.store.path(p), st.next_read)
            return st
        # No usable snapshot: the group's committed offsets, else the beginning. Paused until the
        # loop has looked them up (_resolve_starts): nothing is awaited inside this callback.
        self.consumer.pause(*[self._tp(side, p) for side in SIDES])
        log.info("partition %d: no state file, reading from the group's committed offsets (else the beginning)", p)
        return PartitionState(p, self._new_engine(), next_read={side: None for side in SIDES}, saved_offsets=None)

    def _restore(self, p: int, blob: bytes | None) -> PartitionState | None:
        if blob is None:
            return None
        engine = self._new_engine()
        reset = False
        try:
            extra = restore_engine(engine, blob)
            offsets = {side: int(extra["offsets"][side]) for side in SIDES}
            if extra.get("topics") != self.topic:
                raise ValueError(f"it belongs to topics {extra.get('topics')}, not {self.topic}")
            if extra.get("written_at_ms", 0) < self.inputs_recreated_at_ms:
                log.warning("partition %d: its input topics were re-created after this snapshot; keeping the trip "
                            "state, reading the new topics from the beginning", p)
                offsets, reset = {side: 0 for side in SIDES}, True
        except Exception as exc:
            log.error("partition %d: cannot use %s (%r); reading the partition from the beginning",
                      p, self.store.path(p), exc)
            return PartitionState(p, self._new_engine(), next_read={side: 0 for side in SIDES})
        return PartitionState(p, engine, next_read=offsets, saved_offsets=None if reset else offsets,
                              checkpoint_id=extra.get("checkpoint_id"))

    def _seek_to_next_read(self) -> None:
        for st in self.parts.values():
            for side in SIDES:
                first = st.aligner.first_offset(side)
                offset = first if first is not None else st.next_read[side]
                if offset is not None:
                    st.next_read[side] = offset
                    self.consumer.seek(self._tp(side, st.partition), offset)
            st.aligner = Aligner()

    async def _resolve_starts(self) -> None:
        """A partition assigned without a snapshot waits paused until its start is known: the
        group's committed offset, else the beginning of the log. Looked up here, not inside the
        rebalance callback (offset requests there stall for ~1 s each on Tansu)."""
        for st in self.parts.values():
            for side in SIDES:
                if st.next_read[side] is not None:
                    continue
                tp = self._tp(side, st.partition)
                start = await self.consumer.committed(tp)
                if start is None:
                    start = (await self.consumer.beginning_offsets([tp]))[tp]
                self.consumer.seek(tp, start)
                st.next_read[side] = start
                self.consumer.resume(tp)
                log.info("partition %d: %s starts at offset %d", st.partition, tp.topic, start)

    def _new_engine(self) -> Engine:
        s = self.settings
        return make_engine(s.tariffs, s.cities, s.corridors, end_grace_s=s.end_grace_s,
                           idle_timeout_s=s.idle_timeout_s)

    # ---- observability --------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        for p, st in self.parts.items():
            self.metrics.trips_in_state.labels(str(p)).set(st.engine.live_trips)
            self.metrics.buffered.labels(str(p)).set(len(st.aligner))
            for side in SIDES:
                tp = self._tp(side, p)
                hw = self.consumer.highwater(tp)
                if hw is not None and st.next_read[side] is not None:
                    self.metrics.lag.labels(tp.topic, str(p)).set(max(0, hw - st.next_read[side]))

    def health(self) -> tuple[bool, dict]:
        stalled_s = time.monotonic() - self.last_loop_at
        ok = stalled_s < max(60.0, 2 * DRAIN_TIMEOUT_S) and not self.stopping.is_set()
        return ok, {
            "status": "ok" if ok else "stalled",
            "worker": self.worker_id,
            "group": self.settings.group,
            "partitions": sorted(self.parts),
            "broker": self.bootstrap,
            "outbox": len(self.publisher) if self.publisher else 0,
            "last_loop_s_ago": round(stalled_s, 3),
        }


def _checkpoint_id(blob: bytes | None) -> str | None:
    """The checkpoint id in a snapshot's extra, without restoring it."""
    if blob is None:
        return None
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return orjson.loads(z["doc"].tobytes())["extra"].get("checkpoint_id")
    except Exception:
        return None
