"""What the worker does when the broker lost data: the workarounds for a memory-only broker
(Tansu) that Apache Kafka does not need, and the answers to what Tansu does differently.

- A broker restart loses topics, records and group offsets. With --create-topics the worker puts
  the topics back (`recreate_missing_topics`); when the input topics are new, the trips already
  read stay, and reading starts at the beginning of the new topics (`inputs_recreated`); the
  re-created changelog is noticed by its next checkpoint (records land at another offset than
  the last checkpoint ended, changelog.ChangelogMoved), which then rewrites the whole state.
- A position past the end of a partition's log means the log was lost. Apache Kafka answers such
  a fetch with OffsetOutOfRange (handled by auto_offset_reset="earliest"); Tansu answers with
  nothing, so the position is reset to the beginning (`rewind_truncated_logs`).
- Tansu answers ListOffsets(latest) with the last batch's base offset + 1, not the log end, so
  the end of a changelog partition is taken from fetch highwaters (changelog.read_partition).
- Tansu keeps no offset-commit metadata, so nothing rides on it (the changelog's markers carry
  the checkpoint's identity instead).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tripguard.config.settings import Settings
from tripguard.stream.pipeline import SIDES, PartitionPipeline
from tripguard.stream.topics import create_topics

log = logging.getLogger("tripguard.stream")


async def rewind_truncated_logs(consumer: AIOKafkaConsumer, pipelines: dict[int, PartitionPipeline]) -> None:
    for p, pipe in pipelines.items():
        for side in SIDES:
            tp = TopicPartition(pipe.topics[side], p)
            hw = consumer.highwater(tp)
            if hw is None or pipe.next_read[side] <= hw:
                continue
            start = (await consumer.beginning_offsets([tp]))[tp]
            log.warning(
                "%s[%d]: position %d is past the end of the log (%d): the topic was re-created; "
                "reading it from offset %d",
                tp.topic,
                p,
                pipe.next_read[side],
                hw,
                start,
            )
            consumer.seek(tp, start)
            pipe.next_read[side] = start


async def recreate_missing_topics(bootstrap: str, settings: Settings) -> list[str]:
    """Put back the topics a broker restart lost; returns the names re-created."""
    try:
        created = await asyncio.wait_for(create_topics(bootstrap, settings), 15)
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("topic check on %s failed (%r)", bootstrap, exc)
        return []
    if created:
        log.warning("topics %s were missing on %s (broker restarted?): re-created them", ", ".join(created), bootstrap)
    return created


def inputs_recreated(consumer: AIOKafkaConsumer, pipelines: dict[int, PartitionPipeline]) -> None:
    """The input topics are new and empty: every offset held belongs to the lost ones. The trip
    state stays (the caller first processes what the aligners hold: it is gone from the broker);
    reading starts at offset 0."""
    for p, pipe in pipelines.items():
        for side in SIDES:
            pipe.next_read[side] = 0
            try:
                consumer.seek(TopicPartition(pipe.topics[side], p), 0)
            except Exception:  # not assigned any more: the next assignment seeks
                pass
