"""`tripguard tail`: print a topic's messages as JSON lines, from the beginning.

Alerts and verdicts print as they are (one event per line: the output feeds `tripguard evaluate`).
The DLQ, and any message whose value is not JSON, prints as an envelope with the headers, key,
partition, offset and the raw value as text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from tripguard.errors import ConfigError
from tripguard.stream.service import started


def envelope(record: Any) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())},
        "value": record.value.decode("utf-8", "replace") if record.value is not None else None,
    }


def render(record: Any, wrap: bool) -> bytes:
    if not wrap and record.value is not None:
        try:
            return orjson.dumps(orjson.loads(record.value))
        except orjson.JSONDecodeError:
            pass
    return orjson.dumps(envelope(record))


async def tail(
    bootstrap: str,
    topic: str,
    write: Callable[[bytes], None],
    count: int | None = None,
    timeout_s: float | None = None,
    wrap: bool = False,
) -> int:
    """Print messages until `count` were printed or none arrived for `timeout_s` (None: follow)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    async with started(consumer):
        if topic not in await consumer.topics():
            raise ConfigError(f"topic {topic} does not exist on {bootstrap}")
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        printed, last = 0, time.monotonic()
        while count is None or printed < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=None if count is None else count - printed)
            if not batch:
                if timeout_s is not None and time.monotonic() - last >= timeout_s:
                    break
                continue
            last = time.monotonic()
            for tp in sorted(batch, key=lambda t: t.partition):
                for record in batch[tp]:
                    write(render(record, wrap) + b"\n")
                    printed += 1
        return printed
