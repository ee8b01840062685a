"""Restoring partitions' state on assignment: from the local cache when the cluster backs it,
else from the changelog partition; checked against the group's committed offsets either way.

Nothing here trusts local disk: a cache is used only when the changelog still ends with the
very checkpoint the cache copies (tripguard.stream.store), and a changelog state only when its
checkpoint's offsets are the group's committed ones (tripguard.stream.changelog.fold). The
partitions of one assignment are read together.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from tripguard.stream.changelog import MARKER_KEY, Checkpoint, Restored, fold, read_partitions
from tripguard.stream.store import CachedState, StateCache

log = logging.getLogger("tripguard.stream")


@dataclass
class RestoreReport:
    restored: Restored
    source: str  # "cache" or "changelog"
    records_read: int
    seconds: float


async def restore(
    consumer: AIOKafkaConsumer,
    cache: StateCache | None,
    committed: dict[TopicPartition, dict[str, int] | None],
    cluster: str | None,
    store: str,
) -> dict[TopicPartition, RestoreReport]:
    """committed: per changelog partition, the group's committed offsets of its input partition."""
    started = time.perf_counter()
    cached = {}
    for tp, offsets in committed.items():
        c = _plausible_cache(cache, tp, offsets, cluster) if cache is not None else None
        if c is not None:
            cached[tp] = c
    out: dict[TopicPartition, RestoreReport] = {}
    if cached:  # one fetch each: does the changelog still end with the cached checkpoint?
        tails = await read_partitions(consumer, {tp: c.offset for tp, c in cached.items()})
        for tp, c in cached.items():
            tail, end = tails[tp]
            if (
                len(tail) == 1
                and tail[0][0] == c.offset
                and tail[0][1] == MARKER_KEY
                and _marker_id(tail[0][2]) == c.checkpoint.id
                and end == c.offset + 1
            ):
                out[tp] = RestoreReport(
                    Restored(c.records, c.checkpoint, c.offset, end), "cache", 1, time.perf_counter() - started
                )
            else:
                log.info(
                    "partition %d: local state cache %s set aside: the changelog does not end with its "
                    "checkpoint %s at offset %d (it ends at %d)",
                    tp.partition,
                    cast(StateCache, cache).path(tp.topic, tp.partition),
                    c.checkpoint.id,
                    c.offset,
                    end,
                )
    rest = [tp for tp in committed if tp not in out]
    if rest:
        logs = await read_partitions(consumer, {tp: None for tp in rest})
        for tp in rest:
            records, end = logs[tp]
            out[tp] = RestoreReport(
                fold(records, end, committed[tp], cluster, store),
                "changelog",
                len(records),
                time.perf_counter() - started,
            )
    return out


def _plausible_cache(
    cache: StateCache, tp: TopicPartition, committed: dict[str, int] | None, cluster: str | None
) -> CachedState | None:
    try:
        cached = cache.load(tp.topic, tp.partition)
    except (OSError, ValueError) as exc:
        log.warning(
            "partition %d: local state cache %s unreadable (%s): restoring from the changelog",
            tp.partition,
            cache.path(tp.topic, tp.partition),
            exc,
        )
        return None
    if cached is None:
        return None
    why = None
    if cached.cluster != cluster:
        why = f"it was written on cluster {cached.cluster!r}, this is {cluster!r}"
    elif committed != cached.checkpoint.offsets:
        why = f"it is for offsets {cached.checkpoint.offsets}, the group's committed offsets are {committed}"
    if why is not None:
        log.info(
            "partition %d: local state cache %s set aside: %s", tp.partition, cache.path(tp.topic, tp.partition), why
        )
        return None
    return cached


def _marker_id(value: bytes | None) -> str | None:
    try:
        return Checkpoint.decode(cast(bytes, value)).id
    except Exception:
        return None
