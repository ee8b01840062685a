"""How the stream's long-running loops retry: waits a stop request cuts short, from
BACKOFF_FIRST_S doubling up to BACKOFF_MAX_S."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


async def sleep_unless_stopped(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        pass


async def run_until_stopped(
    step: Callable[[], Awaitable[None]],
    stopping: asyncio.Event,
    log: logging.Logger,
    loop_name: str,
    on_kafka_error: Callable[[], None] = lambda: None,
    on_error: Callable[[], None] = lambda: None,
) -> None:
    """`step` again and again until `stopping` is set. A Kafka error or any other exception is
    logged and the step retried after a backoff: a bug must not stop the stream, and nothing is
    committed past a failed step."""
    backoff = BACKOFF_FIRST_S
    while not stopping.is_set():
        try:
            await step()
            backoff = BACKOFF_FIRST_S
        except KafkaError as exc:
            on_kafka_error()
            log.warning("Kafka error (%r); retrying in %.1f s", exc, backoff)
            await sleep_unless_stopped(stopping, backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
        except Exception:
            on_error()
            log.exception("unexpected error in the %s loop; retrying in %.1f s", loop_name, backoff)
            await sleep_unless_stopped(stopping, backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
