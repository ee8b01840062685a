"""The checkpoint: outputs acknowledged -> state changelog records acknowledged (then their
marker) -> input offsets committed, in that order, for the partitions given.

If the outbox cannot be drained (broker away) nothing is written and nothing committed: the
previous checkpoint stands and a crash replays from there. A partition whose changelog write
fails is not committed (its changes stay owed and are written by the next checkpoint); a
partition whose changelog moved under it (re-created) is flagged for a full rewrite.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from tripguard.stream.changelog import ChangelogMoved, Checkpoint, write_checkpoint
from tripguard.stream.publisher import Publisher

if TYPE_CHECKING:
    from tripguard.stream.metrics import WorkerMetrics

log = logging.getLogger("tripguard.stream")

DRAIN_TIMEOUT_S = 15.0
WRITE_TIMEOUT_S = 30.0
COMMIT_TIMEOUT_S = 10.0
STORE = "trips"


class PartitionState(Protocol):
    """What a checkpoint needs of one input partition's stage (the trip stage's PartitionPipeline;
    a second stage keyed by another id brings its own): the state records changed since the last
    acknowledged checkpoint, the input offsets they correspond to, and word that they are saved."""

    def needs_checkpoint(self) -> bool: ...

    def resume_offsets(self) -> dict[str, int]: ...

    def changed_state(self) -> list[tuple[bytes, bytes | None]]: ...

    def state_saved(self, offsets: dict[str, int]) -> None: ...


@dataclass
class ChangelogPosition:
    """What this worker knows of a changelog partition it writes."""

    end: int | None  # where its next record must land; None: unknown (re-sync before writing)
    last_good: int | None = None  # the end after its last acknowledged checkpoint (or the restore)
    checkpoint: Checkpoint | None = None  # the marker the partition ends with, when it does
    marker_offset: int | None = None

    def moved(self) -> None:
        """The partition is not what we wrote: re-read it whole before writing again."""
        self.end = self.last_good = self.checkpoint = self.marker_offset = None


class Checkpointer:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        consumer: AIOKafkaConsumer,
        publisher: Publisher,
        changelog_topic: str,
        cluster: str | None,
        writer: str,
        metrics: WorkerMetrics | None = None,
        store: str = STORE,
    ):
        self.store = store  # named in the markers: a restore takes only its own store's state
        self.producer, self.consumer, self.publisher = producer, consumer, publisher
        self.changelog_topic, self.cluster, self.writer, self.metrics = changelog_topic, cluster, writer, metrics
        self.positions: dict[int, ChangelogPosition] = {}
        self.uncommitted: dict[TopicPartition, int] = {}  # offsets whose commit failed: sent with the next

    def forget(self, partition: int) -> None:
        self.positions.pop(partition, None)
        for tp in [tp for tp in self.uncommitted if tp.partition == partition]:
            del self.uncommitted[tp]

    async def checkpoint(self, pipelines: dict[int, PartitionState]) -> bool:
        """True when every given partition is checkpointed (or had nothing to checkpoint)."""
        started = time.perf_counter()
        if not await self.publisher.drain(DRAIN_TIMEOUT_S):
            self._failed()
            log.warning(
                "checkpoint skipped: %d output message(s) not acknowledged within %.0f s",
                len(self.publisher),
                DRAIN_TIMEOUT_S,
            )
            return False
        commit: dict[TopicPartition, int] = {}
        ok = True
        writes = {}  # the partitions' changelog writes run together: the producer batches them
        for p, pipe in sorted(pipelines.items()):
            if not pipe.needs_checkpoint():
                continue
            position = self.positions.setdefault(p, ChangelogPosition(None))
            if position.end is None:
                ok = False  # the caller re-syncs it first (Worker._resync_changelogs)
                continue
            offsets = pipe.resume_offsets()
            marker = Checkpoint(
                uuid.uuid4().hex, offsets, self.cluster, self.store, self.writer, int(time.time() * 1000)
            )
            tp = TopicPartition(self.changelog_topic, p)
            write = write_checkpoint(self.producer, tp, pipe.changed_state(), marker, position.end)
            writes[p] = (offsets, marker, asyncio.wait_for(write, WRITE_TIMEOUT_S))
        results = await asyncio.gather(*(w[2] for w in writes.values()), return_exceptions=True)
        for (p, (offsets, marker, _)), result in zip(writes.items(), results):
            position = self.positions[p]
            if isinstance(result, ChangelogMoved):
                log.warning("%s; partition %d will rewrite its whole state to it", result, p)
                position.moved()
                ok = False
            elif isinstance(result, BaseException):
                if not isinstance(result, (KafkaError, asyncio.TimeoutError, ValueError)):
                    raise result
                log.error("checkpoint of partition %d: changelog write failed (%r); offsets not committed", p, result)
                # Some records may have landed. They are of trips whose changes are still owed (nothing
                # is marked written), so the next checkpoint supersedes them; it only needs to know
                # where the partition ends now.
                position.end, position.checkpoint = None, None
                ok = False
            else:
                position.end = position.last_good = result + 1
                position.checkpoint, position.marker_offset = marker, result
                pipelines[p].state_saved(offsets)
                for topic, offset in offsets.items():
                    commit[TopicPartition(topic, p)] = offset
        commit = {**{tp: o for tp, o in self.uncommitted.items() if tp.partition in pipelines}, **commit}
        if commit:
            try:
                await asyncio.wait_for(self.consumer.commit(commit), COMMIT_TIMEOUT_S)
                self.uncommitted.clear()
            except (TimeoutError, KafkaError) as exc:
                # The changelog holds the state; a restore matches its markers against the committed
                # offsets, so an older commit only means more input is read again.
                log.warning("offset commit failed (%r); a restore resumes from the previous commit", exc)
                self.uncommitted = commit
                ok = False
        if not ok:
            self._failed()
        if self.metrics is not None:
            self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)
        return ok

    def _failed(self) -> None:
        if self.metrics is not None:
            self.metrics.checkpoints_failed.inc()
