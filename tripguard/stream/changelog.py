"""Keyed state in a compacted changelog topic, as Kafka Streams and quix-streams keep it.

A stage's state (the trip stage: `tripguard.engine.tripstate`) is a set of keyed records per input
partition p, kept in partition p of its changelog topic (co-partitioned with the inputs,
cleanup.policy=compact). A checkpoint appends the records that changed since the last one (a
tombstone -- value None -- deletes a key) and then a *checkpoint marker* (key MARKER_KEY) naming
the input offsets the state corresponds to. The marker goes out only after every record before
it is acknowledged, and the input offsets are committed to the group only after the marker is:

    outputs acknowledged -> changelog records acknowledged -> marker acknowledged -> offsets committed

Restoring a partition (`fold`) reads its changelog partition to the end and looks for the last
marker whose offsets equal the group's committed offsets. The state is every record before that
marker, last value per key. Records after it belong to a checkpoint whose commit never happened
(a crash mid-checkpoint): they are not state; the next checkpoint rewrites their keys (`repair`),
so the last value of every key is again the state. When no marker matches -- no committed
offsets, offsets earlier or later than every checkpoint, another cluster, other input topics --
the changelog's state is set aside (with the reason) and all its keys are deleted at the next
checkpoint. This does not depend on the broker compacting: with or without compaction the last
record per key wins, and a compacting broker only ever removes records that a later one
supersedes (markers share one key: only the newest survives compaction, which is the one a
restore needs; `min.compaction.lag.ms` keeps a crashed checkpoint's records from compacting away
what they superseded before a successor repairs them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

MARKER_KEY = b"\x00checkpoint"  # state keys are namespaced by the stage (b"trip/..."), never start with NUL
# Topic configs of a changelog: compacted; a crashed checkpoint's records stay uncompacted long
# enough for the next owner to repair them; segments small enough that compaction keeps the part
# a restore must read bounded; room for a long trip's record (planned route and corridor).
CHANGELOG_CONFIGS = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": str(5 * 60_000),
    "segment.bytes": str(64 << 20),
    "max.message.bytes": str(8 << 20),
}
MAX_RECORD_BYTES = 8 << 20


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint marker: the state before it corresponds to these input offsets (per topic,
    the first record not reflected in it), on this cluster."""

    id: str
    offsets: dict[str, int]
    cluster: str | None
    store: str
    writer: str = ""
    written_at_ms: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, value: bytes) -> Checkpoint:
        d = orjson.loads(value)
        return cls(
            id=str(d["id"]),
            offsets={str(k): int(v) for k, v in d["offsets"].items()},
            cluster=d.get("cluster"),
            store=str(d["store"]),
            writer=str(d.get("writer", "")),
            written_at_ms=int(d.get("written_at_ms", 0)),
        )


@dataclass
class Restored:
    """A changelog partition read back against the group's committed offsets."""

    records: dict[bytes, bytes]  # the state: last value per key before the matching marker
    checkpoint: Checkpoint | None  # that marker (None: no usable state)
    offset: int | None  # its offset in the changelog partition
    end: int  # the partition's end offset when it was read
    repair: dict[bytes, bytes | None] = field(default_factory=dict)  # owed to the changelog by the next checkpoint
    problem: str | None = None  # why a state the changelog holds was set aside


def fold(
    records: Iterable[tuple[int, bytes, bytes | None]],
    end: int,
    committed: dict[str, int] | None,
    cluster: str | None,
    store: str,
) -> Restored:
    """The state of one changelog partition (records: (offset, key, value) in log order) that
    matches the group's committed offsets. Pure: no I/O."""
    log = list(records)
    markers: list[tuple[int, Checkpoint | None]] = []
    for offset, key, value in log:
        if key == MARKER_KEY:
            try:
                markers.append((offset, Checkpoint.decode(cast(bytes, value))))
            except Exception:  # unreadable marker: it matches nothing
                markers.append((offset, None))
    chosen = next(
        (
            (o, m)
            for o, m in reversed(markers)
            if m is not None and m.store == store and committed is not None and m.offsets == committed
        ),
        None,
    )
    problem = None
    if chosen is not None and chosen[1].cluster != cluster:
        problem = f"its checkpoint was written on cluster {chosen[1].cluster!r}, this is {cluster!r}"
        chosen = None
    elif chosen is None and markers:
        last = markers[-1][1]
        if last is None:
            problem = "its last checkpoint marker is unreadable"
        elif committed is None:
            problem = f"it holds state for offsets {last.offsets}, but the group has no committed offsets"
        elif set(last.offsets) != set(committed):
            problem = f"it holds state for topics {sorted(last.offsets)}, not {sorted(committed)}"
        else:
            problem = (
                f"the group's committed offsets {committed} match none of its checkpoints "
                f"(the last is at {last.offsets})"
            )
    if chosen is None:
        last_values: dict[bytes, bytes | None] = {}
        for _, key, value in log:
            if key != MARKER_KEY:
                last_values[key] = value
        return Restored(
            {}, None, None, end, repair={k: None for k, v in last_values.items() if v is not None}, problem=problem
        )
    at, checkpoint = chosen
    state: dict[bytes, bytes | None] = {}
    after: set[bytes] = set()
    for offset, key, value in log:
        if key == MARKER_KEY:
            continue
        if offset < at:
            state[key] = value
        else:
            after.add(key)
    values = {k: v for k, v in state.items() if v is not None}
    return Restored(values, checkpoint, at, end, repair={k: values.get(k) for k in after})


async def read_partitions(
    consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int | None], timeout_s: float = 120.0
) -> dict[TopicPartition, tuple[list[tuple[int, bytes, bytes | None]], int]]:
    """Every record of each partition from its start (None: the beginning) to its end, read
    together, and that end. The end is the highwater of the fetch responses, not ListOffsets:
    Tansu answers ListOffsets(latest) with the last batch's base offset + 1."""
    consumer.assign(list(starts))
    from_beginning = [tp for tp, start in starts.items() if start is None]
    if from_beginning:
        await consumer.seek_to_beginning(*from_beginning)
    for tp, start in starts.items():
        if start is not None:
            consumer.seek(tp, start)
    out: dict[TopicPartition, list[Any]] = {tp: [] for tp in starts}
    ends: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + timeout_s
    while len(ends) < len(starts):
        # short polls: an empty partition never returns records, only a highwater
        batch = await consumer.getmany(*[tp for tp in starts if tp not in ends], timeout_ms=20, max_records=10_000)
        for tp, records in batch.items():
            out[tp].extend((r.offset, r.key, r.value) for r in records)
        for tp in starts:
            end = consumer.highwater(tp)
            if tp not in ends and end is not None and await consumer.position(tp) >= end:
                ends[tp] = end
        if time.monotonic() > deadline:
            missing = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in starts if tp not in ends)
            raise TimeoutError(f"{missing} not read to the end within {timeout_s:g} s")
    return {tp: (out[tp], ends[tp]) for tp in starts}


async def read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int | None = None, timeout_s: float = 120.0
) -> tuple[list[tuple[int, bytes, bytes | None]], int]:
    return (await read_partitions(consumer, {tp: start}, timeout_s))[tp]


class ChangelogMoved(Exception):
    """A checkpoint's records did not land where this writer's last checkpoint ended: the changelog
    partition was re-created (a memory-only broker restarted) or someone else wrote to it."""


async def write_checkpoint(
    producer: AIOKafkaProducer,
    tp: TopicPartition,
    records: list[tuple[bytes, bytes | None]],
    checkpoint: Checkpoint,
    expected_start: int | None,
) -> int:
    """Append the records, then (once they are all acknowledged) the marker. Returns the offset
    of the marker. Raises ChangelogMoved when the first record did not land at expected_start
    (the marker is still written: it is harmless, as no commit will name its offsets)."""
    futures = []
    for key, value in records:
        if value is not None and len(value) + len(key) > MAX_RECORD_BYTES:
            raise ValueError(f"state record {key[:80]!r} is {len(value)} bytes, over {MAX_RECORD_BYTES}")
        futures.append(await producer.send(tp.topic, value, key=key, partition=tp.partition))
    acked = await asyncio.gather(*futures)
    marker = await (await producer.send(tp.topic, checkpoint.encode(), key=MARKER_KEY, partition=tp.partition))
    first = acked[0].offset if acked else marker.offset
    if expected_start is not None and first != expected_start:
        raise ChangelogMoved(
            f"{tp.topic}[{tp.partition}]: records landed at {first}, the last checkpoint ended at {expected_start}"
        )
    return cast(int, marker.offset)
