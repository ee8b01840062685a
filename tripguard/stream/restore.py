"""Restoring a partition's state on assignment: from the local cache when the cluster backs it,
else from the changelog partition; checked against the group's committed offsets either way.

Nothing here trusts local disk: a cache is used only when the changelog still ends with the
very checkpoint the cache copies (tripguard.stream.store), and a changelog state only when its
checkpoint's offsets are the group's committed ones (tripguard.stream.changelog.fold).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from tripguard.stream.changelog import MARKER_KEY, Checkpoint, Restored, fold, read_partition
from tripguard.stream.store import StateCache

log = logging.getLogger("tripguard.stream")


@dataclass
class RestoreReport:
    restored: Restored
    source: str  # "cache" or "changelog"
    records_read: int
    seconds: float


async def restore(consumer: AIOKafkaConsumer, cache: StateCache | None, tp: TopicPartition,
                  committed: dict[str, int] | None, cluster: str | None, store: str) -> RestoreReport:
    started = time.perf_counter()
    if cache is not None:
        cached = await _usable_cache(consumer, cache, tp, committed, cluster)
        if cached is not None:
            restored = Restored(cached.records, cached.checkpoint, cached.offset, cached.offset + 1)
            return RestoreReport(restored, "cache", 1, time.perf_counter() - started)
    records, end = await read_partition(consumer, tp)
    restored = fold(records, end, committed, cluster, store)
    return RestoreReport(restored, "changelog", len(records), time.perf_counter() - started)


async def _usable_cache(consumer, cache: StateCache, tp: TopicPartition, committed, cluster):
    try:
        cached = cache.load(tp.topic, tp.partition)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("partition %d: local state cache %s unreadable (%s): restoring from the changelog",
                    tp.partition, cache.path(tp.topic, tp.partition), exc)
        return None
    if cached is None:
        return None
    why = None
    if cached.cluster != cluster:
        why = f"it was written on cluster {cached.cluster!r}, this is {cluster!r}"
    elif committed != cached.checkpoint.offsets:
        why = f"it is for offsets {cached.checkpoint.offsets}, the group's committed offsets are {committed}"
    else:
        tail, end = await read_partition(consumer, tp, start=cached.offset)
        if not (len(tail) == 1 and tail[0][0] == cached.offset and tail[0][1] == MARKER_KEY
                and _marker_id(tail[0][2]) == cached.checkpoint.id and end == cached.offset + 1):
            why = (f"the changelog does not end with its checkpoint {cached.checkpoint.id} at offset {cached.offset} "
                   f"(it ends at {end})")
    if why is not None:
        log.info("partition %d: local state cache %s set aside: %s", tp.partition,
                 cache.path(tp.topic, tp.partition), why)
        return None
    return cached


def _marker_id(value: bytes | None) -> str | None:
    try:
        return Checkpoint.decode(value).id
    except Exception:
        return None
