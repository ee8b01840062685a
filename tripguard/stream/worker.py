"""`tripguard run`: the streaming worker.

Reads tripguard.pings and tripguard.trips as a member of a consumer group. Each assigned input
partition p (pings and trips are co-partitioned by trip_id, so p of both is an independent
stream) gets a PartitionPipeline (tripguard.stream.pipeline: its aligner, engine and offsets),
restored on assignment from partition p of the state changelog (tripguard.stream.restore). One
loop turn (`_step`): poll -> pipelines -> publish -> checkpoint. Outputs go through a Publisher
(outbox) to tripguard.alerts / .verdicts / .dlq; the checkpoint (tripguard.stream.checkpoint)
awaits them, writes the changed state to the changelog, then commits the input offsets. What a
memory-only broker needs on top lives in tripguard.stream.recovery. See docs/streaming.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from tripguard.config.settings import Settings
from tripguard.engine.core import Engine
from tripguard.engine.tripstate import TripRecords
from tripguard.io.codec import dumps
from tripguard.stream import recovery
from tripguard.stream.aligner import PINGS, TRIPS
from tripguard.stream.changelog import MARKER_KEY, MAX_RECORD_BYTES, read_partition
from tripguard.stream.checkpoint import STORE, ChangelogPosition, Checkpointer
from tripguard.stream.metrics import HttpEndpoint, WorkerMetrics
from tripguard.stream.pipeline import SIDES, EngineFailed, PartitionPipeline, PipelineOutput, Quarantine
from tripguard.stream.publisher import Publisher
from tripguard.stream.restore import RestoreReport, restore
from tripguard.stream.retry import BACKOFF_FIRST_S, BACKOFF_MAX_S, run_until_stopped, sleep_unless_stopped
from tripguard.stream.store import CachedState, StateCache
from tripguard.stream.topics import MissingTopics, check_copartitioned, cluster_id, create_topics
from tripguard.stream.warmup import warm_up_off_loop

if TYPE_CHECKING:
    from tripguard.stream.pipeline import DeadLetter
    from tripguard.stream.risk_worker import RiskWorker

log = logging.getLogger("tripguard.stream")

TOPIC_CHECK_S = 5.0
ENGINE_RETRY_MAX_S = 60.0
RESTORE_TIMEOUT_S = 120.0


@dataclass
class Awaiting:
    """An assigned partition waiting (paused) for its state to be restored."""

    quarantine: Quarantine
    not_before: float = 0.0  # monotonic: after an engine failure, the retry waits
    attempts: int = 0  # restores that failed (broker away): the retry waits longer


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker | RiskWorker):
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(assigned)


class Worker:
    def __init__(self, settings: Settings, bootstrap: str, create_missing_topics: bool | None = None):
        self.settings = settings
        self.bootstrap = bootstrap
        self.create_missing_topics = settings.create_topics if create_missing_topics is None else create_missing_topics
        self.topic = {PINGS: settings.pings_topic, TRIPS: settings.trips_topic}
        self.side_of = {settings.pings_topic: PINGS, settings.trips_topic: TRIPS}
        self._new_engine()  # bad tariffs or city tables fail here, before joining the group
        self.cache = StateCache(settings.state_dir, settings.group)
        self.metrics = WorkerMetrics()
        self.http = HttpEndpoint(self.metrics, self.health, host=settings.metrics_host, port=settings.metrics_port)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self.parts: dict[int, PartitionPipeline] = {}
        self.awaiting: dict[int, Awaiting] = {}
        self.lock = asyncio.Lock()
        self.generation = 0  # bumped by every rebalance callback
        self.stopping = asyncio.Event()
        self.cluster: str | None = None
        self.consumer: AIOKafkaConsumer = None  # (until _start_clients; aiokafka is untyped: Any)
        self.restore_consumer: AIOKafkaConsumer = None  # (until _start_clients; aiokafka is untyped: Any)
        self.producer: AIOKafkaProducer = None  # (until _start_clients)
        self.publisher: Publisher | None = None
        self.checkpointer: Checkpointer | None = None
        self.last_loop_at = time.monotonic()
        self.last_checkpoint_at = time.monotonic()
        self.last_topic_check_at = 0.0
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
            log.info(
                "%s and %s have %d partitions each (co-partitioned by trip_id), state in %s; cluster %s, "
                "group %s, worker %s",
                self.topic[PINGS],
                self.topic[TRIPS],
                partitions,
                self.settings.changelog_topic,
                self.cluster,
                self.settings.group,
                self.worker_id,
            )
            try:
                seconds = await warm_up_off_loop(self._new_engine(), self.stopping)
                if seconds is None:
                    return 0  # stopped during the compile
                log.info("engine ready (kernels compiled or loaded from the cache) in %.1f s", seconds)
            except Exception:  # the batches will show whether it is real; they are handled one by one
                log.exception("engine warm-up failed")
            await self._start_clients()
            await run_until_stopped(
                self._step, self.stopping, log, "worker", self.metrics.broker_errors.inc, self.metrics.batch_errors.inc
            )
            async with self.lock:
                ok = await self._checkpoint_and_cache(set(self.parts))
            log.info("stopping: final checkpoint %s", "done" if ok else "FAILED (deliveries not confirmed)")
            return 0
        finally:
            await self._stop_clients()
            await self.http.stop()

    def _stop_requested(self, sig: int) -> None:
        log.info("%s received: finishing the current batch, then a final checkpoint", signal.Signals(sig).name)
        self.stopping.set()

    async def _sleep(self, seconds: float) -> None:
        await sleep_unless_stopped(self.stopping, seconds)

    async def _prepare_topics(self) -> int | None:
        """Create the topics when configured (the state changelog always), then check
        co-partitioning and learn the cluster's id. Retries while the broker is unreachable; a partition-count mismatch is a ConfigError
        (the worker refuses to start)."""
        backoff = BACKOFF_FIRST_S
        while not self.stopping.is_set():
            try:
                if self.create_missing_topics:
                    created = await create_topics(self.bootstrap, self.settings)
                    if created:
                        log.info("created topics %s on %s", ", ".join(created), self.bootstrap)
                try:
                    partitions = await check_copartitioned(self.bootstrap, self.settings)
                except MissingTopics as exc:
                    if exc.topics != [self.settings.changelog_topic]:
                        raise
                    # The state changelog is the worker's own topic: created when missing (an older
                    # deployment's `topics create` made none), as Kafka Streams creates its internal
                    # topics, with the inputs' partition count.
                    await create_topics(self.bootstrap, self.settings, only=exc.topics)
                    log.info("created the state changelog %s on %s", self.settings.changelog_topic, self.bootstrap)
                    partitions = await check_copartitioned(self.bootstrap, self.settings)
                self.cluster = await cluster_id(self.bootstrap)
                return partitions
            except MissingTopics:
                if not self.create_missing_topics:
                    raise
            except (TimeoutError, KafkaError, OSError) as exc:
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
        # reads changelog partitions on assignment: no group, manual assignment
        self.restore_consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            client_id=f"tripguard-{self.worker_id}-restore",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            request_timeout_ms=20_000,
            retry_backoff_ms=200,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"tripguard-{self.worker_id}",
            acks="all",
            enable_idempotence=s.idempotent_producer,
            linger_ms=5,
            max_request_size=MAX_RECORD_BYTES + (1 << 16),
            request_timeout_ms=10_000,
            retry_backoff_ms=200,
        )
        self.publisher = Publisher(self.producer, self.metrics)
        self.checkpointer = Checkpointer(
            self.producer, self.consumer, self.publisher, s.changelog_topic, self.cluster, self.worker_id, self.metrics
        )
        backoff = BACKOFF_FIRST_S
        while True:
            try:
                await self.producer.start()
                await self.restore_consumer.start()
                await self.consumer.start()
                break
            except (KafkaError, OSError) as exc:
                log.warning("cannot connect to %s (%r); retrying in %.1f s", self.bootstrap, exc, backoff)
                await self._sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        self.consumer.subscribe([self.topic[PINGS], self.topic[TRIPS]], listener=_Listener(self))

    async def _stop_clients(self) -> None:
        for client in (self.consumer, self.restore_consumer, self.producer):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.stop(), 15)
            except Exception as exc:  # closing on a dead broker: nothing left to save
                log.warning("closing %s: %r", type(client).__name__, exc)

    # ---- the loop: poll -> pipelines -> publish -> checkpoint ------------------------------------

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
            await self._restore_awaiting()
            now = time.monotonic()
            for tp, batch in records.items():
                pipe = self.parts.get(tp.partition)
                if pipe is None or tp.topic not in self.side_of:
                    continue
                self.metrics.records.labels(tp.topic).inc(len(batch))
                self._dead_letters(pipe.ingest_many(batch, now))
            await recovery.rewind_truncated_logs(self.consumer, self.parts)
            for p, pipe in list(self.parts.items()):
                caught = {side: self._caught_up_at_ms(pipe, side) for side in SIDES}
                try:
                    out = pipe.advance(caught, now)
                except EngineFailed as exc:
                    self._engine_failed(pipe, exc)
                    continue
                if out.pause_closed:
                    log.info(
                        "partition %d: input paused %.0f s, closed %d ended trip(s)",
                        p,
                        now - pipe.last_record_at,
                        out.pause_closed,
                    )
                self._publish(out)
                self._bound_buffers(pipe)
            await cast(Publisher, self.publisher).pump()  # hand outputs to the producer (and re-send failed ones)
            if now - self.last_checkpoint_at >= s.checkpoint_interval_s:
                await self._checkpoint(set(self.parts))
            self._update_gauges()
            self.last_loop_at = time.monotonic()
        if self.create_missing_topics and time.monotonic() - self.last_topic_check_at >= TOPIC_CHECK_S:
            await self._recreate_missing_topics()

    def _caught_up_at_ms(self, pipe: PartitionPipeline, side: str) -> float | None:
        """When the last fetch response showing this side caught up arrived (ms), else None."""
        tp = self._tp(side, pipe.partition)
        hw = self.consumer.highwater(tp)
        if hw is None or pipe.next_read[side] < hw:
            return None
        return cast(float | None, self.consumer.last_poll_timestamp(tp))

    def _bound_buffers(self, pipe: PartitionPipeline) -> None:
        """Stop fetching a side that is far ahead of the other."""
        for side in SIDES:
            tp = self._tp(side, pipe.partition)
            held = pipe.held(side)
            if held >= self.buffer_limit:
                self.consumer.pause(tp)
            elif held <= self.buffer_limit // 2 and tp in self.consumer.paused():
                self.consumer.resume(tp)

    def _publish(self, out: PipelineOutput) -> None:
        s, m = self.settings, self.metrics
        for seconds in out.engine_seconds:
            m.batch_seconds.observe(seconds)
        m.pings.inc(out.pings)
        m.trip_events.inc(out.trip_events)
        m.late_after_close.inc(out.late_after_close)
        m.pause_closes.inc(out.pause_closed)
        for alert, record in out.alerts:
            cast(Publisher, self.publisher).send(s.alerts_topic, alert["trip_id"].encode(), dumps(alert))
            m.alerts.labels(alert["kind"]).inc()
            if record is not None and record.timestamp is not None and record.timestamp >= 0:
                m.ping_to_alert_seconds.observe(max(0.0, (alert["detected_at"] - record.timestamp) / 1000))
        for verdict in out.verdicts:
            cast(Publisher, self.publisher).send(s.verdicts_topic, verdict["trip_id"].encode(), dumps(verdict))
            m.verdicts.inc()
        self._dead_letters(out.dead_letters)

    def _dead_letters(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            record = letter.record
            headers = [
                ("error", letter.reason.encode()),
                ("source_topic", record.topic.encode()),
                ("source_partition", str(record.partition).encode()),
                ("source_offset", str(record.offset).encode()),
            ]
            cast(Publisher, self.publisher).send(self.settings.dlq_topic, record.key, record.value, headers)
            self.metrics.dlq.labels(record.topic).inc()

    def _engine_failed(self, pipe: PartitionPipeline, exc: EngineFailed) -> None:
        """The engine raised: the partition's state is suspect, so it is rebuilt from its last
        checkpoint and read again from there (nothing is committed past it), after a growing
        pause. The error shows in the log and in tripguard_batch_errors_total."""
        p = pipe.partition
        q = pipe.quarantine
        q.failures += 1
        delay = min(ENGINE_RETRY_MAX_S, self.settings.engine_retry_s * 2.0 ** (q.failures - 1))
        self.metrics.batch_errors.inc()
        log.error(
            "%s; rebuilding the partition from its last checkpoint in %.0f s",
            exc,
            delay,
            exc_info=exc.__cause__ or exc.__context__,
        )
        if exc.poisoned:
            log.error(
                "partition %d: %s made the engine raise %d times: it goes to the DLQ when read again",
                p,
                exc.poisoned,
                q.max_attempts,
            )
        self._close(p)
        self.awaiting[p] = Awaiting(q, not_before=time.monotonic() + delay)
        self.consumer.pause(*[self._tp(side, p) for side in SIDES])

    # ---- checkpoints ----------------------------------------------------------------------------

    async def _checkpoint(self, partitions: set[int]) -> bool:
        self.last_checkpoint_at = time.monotonic()
        if self.checkpointer is None:
            return True
        await self._resync_changelogs(partitions)
        return await self.checkpointer.checkpoint({p: self.parts[p] for p in partitions if p in self.parts})

    async def _checkpoint_and_cache(self, partitions: set[int]) -> bool:
        """A checkpoint, then a copy of each partition's state in the local cache (handing a
        partition back: revoke, SIGTERM)."""
        ok = await self._checkpoint(partitions)
        for p in sorted(partitions):
            pipe = self.parts.get(p)
            position = self.checkpointer.positions.get(p) if self.checkpointer else None
            if pipe is None or position is None or position.checkpoint is None or pipe.needs_checkpoint():
                continue
            try:
                self.cache.save(
                    CachedState(
                        self.cluster,
                        self.settings.changelog_topic,
                        p,
                        position.checkpoint,
                        cast(int, position.marker_offset),
                        pipe.records.snapshot(),
                    )
                )
            except OSError as exc:  # the cache is only a shortcut
                log.warning("partition %d: local state cache not written (%s)", p, exc)
        return ok

    async def _resync_changelogs(self, partitions: set[int]) -> None:
        """Before writing to a changelog partition whose end is not known: after a failed write,
        find where it ends now (what landed past the last good checkpoint is ours and owed again);
        when it moved under us (re-created, or written by someone else), delete every key it
        holds at the next checkpoint and write the whole state after them."""
        for p in sorted(partitions):
            position = cast(Checkpointer, self.checkpointer).positions.get(p)
            pipe = self.parts.get(p)
            if pipe is None or position is None or position.end is not None:
                continue
            tp = TopicPartition(self.settings.changelog_topic, p)
            try:
                if position.last_good is not None:
                    _, end = await read_partition(
                        self.restore_consumer, tp, start=position.last_good, timeout_s=RESTORE_TIMEOUT_S
                    )
                    if end >= position.last_good:
                        position.end = end
                        continue
                records, end = await read_partition(self.restore_consumer, tp, timeout_s=RESTORE_TIMEOUT_S)
            except (TimeoutError, KafkaError) as exc:
                log.warning(
                    "partition %d: cannot read %s[%d] (%r); retrying at the next checkpoint", p, tp.topic, p, exc
                )
                continue
            pipe.repair = {key: None for _, key, value in records if key != MARKER_KEY}
            pipe.records.rewrite_all()
            cast(Checkpointer, self.checkpointer).positions[p] = ChangelogPosition(end, last_good=end)
            log.warning(
                "partition %d: %s[%d] is not what this worker wrote (%d record(s)): its whole state is written again",
                p,
                tp.topic,
                p,
                len(records),
            )

    # ---- rebalancing ----------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            self.generation += 1
            gone = {tp.partition for tp in revoked}
            owned = gone & set(self.parts)
            ok = await self._checkpoint_and_cache(owned) if owned else True
            for p in gone:
                self._close(p)
                self.awaiting.pop(p, None)
            if owned:
                log.info(
                    "revoked partitions %s (checkpoint %s)",
                    sorted(owned),
                    "done" if ok else "FAILED: the next owner resumes from the previous one",
                )

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self.lock:
            self.generation += 1
            sides: dict[int, set[str]] = {}
            for tp in assigned:
                if tp.topic in self.side_of:
                    sides.setdefault(tp.partition, set()).add(self.side_of[tp.topic])
            for p, got in sorted(sides.items()):
                if got != set(SIDES):
                    log.error(
                        "partition %d: assigned only %s; co-partitioning needs both topics' partition %d on "
                        "one worker (range assignment, equal partition counts)",
                        p,
                        got,
                        p,
                    )
                    self.consumer.pause(*[self._tp(side, p) for side in got])
                    continue
                if p not in self.parts and p not in self.awaiting:
                    self.consumer.pause(*[self._tp(side, p) for side in SIDES])  # until restored
                    self.awaiting[p] = Awaiting(Quarantine(self.settings.poison_attempts))
                self.metrics.owned.labels(str(p)).set(1)
            log.info("assigned partitions %s", sorted(p for p, got in sides.items() if got == set(SIDES)))

    async def _restore_awaiting(self) -> None:
        """Partitions assigned (or rebuilt after an engine failure) get their state, then are
        read from the offsets it corresponds to. Done here, not inside the rebalance callback;
        the partitions ready now are restored together."""
        ready = sorted(p for p, w in self.awaiting.items() if time.monotonic() >= w.not_before)
        if not ready:
            return
        try:
            inputs = [self._tp(side, p) for p in ready for side in SIDES]
            offsets = dict(zip(inputs, await asyncio.gather(*(self.consumer.committed(tp) for tp in inputs))))
            beginnings = await self.consumer.beginning_offsets(inputs)
            committed = {}
            for p in ready:
                each = {self.topic[side]: offsets[self._tp(side, p)] for side in SIDES}
                committed[TopicPartition(self.settings.changelog_topic, p)] = (
                    None if all(v is None for v in each.values()) else each
                )
            reports = await asyncio.wait_for(
                restore(self.restore_consumer, self.cache, committed, self.cluster, STORE), RESTORE_TIMEOUT_S
            )
            pipes = {
                tp.partition: self._pipeline(tp.partition, report, committed[tp], beginnings)
                for tp, report in reports.items()
            }
        except (TimeoutError, KafkaError, OSError) as exc:
            for p in ready:
                waiting = self.awaiting[p]
                waiting.attempts += 1
                waiting.not_before = time.monotonic() + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**waiting.attempts)
            log.warning("partitions %s: restore failed (%r); retrying", ready, exc)
            return
        for p, pipe in pipes.items():
            del self.awaiting[p]
            self.parts[p] = pipe
            for side in SIDES:
                tp = self._tp(side, p)
                self.consumer.seek(tp, pipe.next_read[side])
                self.consumer.resume(tp)

    def _pipeline(
        self, p: int, report: RestoreReport, committed: dict[str, int] | None, beginnings: dict[TopicPartition, int]
    ) -> PartitionPipeline:
        """Partition p's pipeline from what was restored, reading from where that state ends."""
        changelog = self.settings.changelog_topic
        restored = report.restored
        engine = self._new_engine()
        records = TripRecords(engine)
        repair = dict(restored.repair)
        checkpoint = restored.checkpoint
        if checkpoint is not None:
            try:
                records.load(restored.records)
            except Exception as exc:  # another version's format, a corrupt record: not usable
                log.error("partition %d: the state in %s[%d] cannot be loaded (%r): set aside", p, changelog, p, exc)
                engine = self._new_engine()
                records = TripRecords(engine)
                repair = {**{k: None for k in restored.records}, **{k: None for k in repair}}
                checkpoint = None
        elif restored.problem:
            log.warning("partition %d: the state in %s[%d] is set aside: %s", p, changelog, p, restored.problem)
        if checkpoint is not None:
            start = {side: checkpoint.offsets[self.topic[side]] for side in SIDES}
            log.info(
                "partition %d: restored %d live trip(s) from the %s (%s[%d], checkpoint %s, %d record(s) read "
                "in %.2f s), reading from %s",
                p,
                engine.live_trips,
                report.source,
                changelog,
                p,
                checkpoint.id[:8],
                report.records_read,
                report.seconds,
                start,
            )
        elif committed is not None and None not in committed.values():
            start = {side: committed[self.topic[side]] for side in SIDES}
            log.warning(
                "partition %d: no state for the group's committed offsets; reading from them %s (trips live "
                "before them are not restored)",
                p,
                start,
            )
        else:
            start = {side: beginnings[self._tp(side, p)] for side in SIDES}
            log.info("partition %d: no committed offsets: reading from the beginning %s", p, start)
        pipe = PartitionPipeline(
            p, engine, self.topic, start, records, self.awaiting[p].quarantine, self.settings.pause_close_s
        )
        pipe.repair = repair
        pipe.saved_offsets = dict(checkpoint.offsets) if checkpoint is not None and not repair else None
        at_end = checkpoint is not None and not repair and restored.offset == restored.end - 1
        cast(Checkpointer, self.checkpointer).positions[p] = ChangelogPosition(
            restored.end, restored.end, checkpoint if at_end else None, restored.offset if at_end else None
        )
        return pipe

    def _close(self, p: int) -> None:
        self.parts.pop(p, None)
        if self.checkpointer is not None:
            self.checkpointer.forget(p)
        self.metrics.owned.labels(str(p)).set(0)
        self.metrics.trips_in_state.labels(str(p)).set(0)

    def _seek_to_next_read(self) -> None:
        for p, pipe in self.parts.items():
            for side, offset in pipe.rewind().items():
                self.consumer.seek(self._tp(side, p), offset)

    async def _recreate_missing_topics(self) -> None:
        self.last_topic_check_at = time.monotonic()
        created = await recovery.recreate_missing_topics(self.bootstrap, self.settings)
        if set(created) & set(self.topic.values()):
            async with self.lock:
                self.generation += 1  # records fetched before this point are from the old topics
                for pipe in list(self.parts.values()):
                    try:  # read before the loss: use them, they are gone from the broker
                        self._publish(pipe.release_all())
                    except EngineFailed as exc:
                        self._engine_failed(pipe, exc)
                recovery.inputs_recreated(self.consumer, self.parts)
        if self.settings.changelog_topic in created and self.checkpointer is not None:
            for position in self.checkpointer.positions.values():
                position.moved()  # re-read before the next write

    def _tp(self, side: str, partition: int) -> TopicPartition:
        return TopicPartition(self.topic[side], partition)

    def _new_engine(self) -> Engine:
        return Engine.from_settings(self.settings)

    # ---- observability --------------------------------------------------------------------------

    def _update_gauges(self) -> None:
        for p, pipe in self.parts.items():
            self.metrics.trips_in_state.labels(str(p)).set(pipe.live_trips)
            self.metrics.buffered.labels(str(p)).set(len(pipe.aligner))
            for side in SIDES:
                tp = self._tp(side, p)
                hw = self.consumer.highwater(tp)
                if hw is not None:
                    self.metrics.lag.labels(tp.topic, str(p)).set(max(0, hw - pipe.next_read[side]))

    def health(self) -> tuple[bool, dict[str, Any]]:
        stalled_s = time.monotonic() - self.last_loop_at
        ok = stalled_s < 60.0 and not self.stopping.is_set()
        return ok, {
            "status": "ok" if ok else "stalled",
            "worker": self.worker_id,
            "group": self.settings.group,
            "partitions": sorted(self.parts),
            "restoring": sorted(self.awaiting),
            "broker": self.bootstrap,
            "outbox": len(self.publisher) if self.publisher else 0,
            "last_loop_s_ago": round(stalled_s, 3),
        }
