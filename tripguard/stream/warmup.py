"""Compile the engine's kernels before the worker joins its consumer group, off its event loop.

A cold compile in the first batch blocks the event loop for many seconds: no heartbeats, so the
group may evict the member and rebalance. A cold compile takes tens of seconds, so the worker does
not run it on its event loop: `python -m tripguard.runtime` compiles in a child process and fills
Numba's on-disk cache while the loop keeps turning (Kafka clients, /healthz, SIGINT and SIGTERM, on
which the child is killed at once). The worker then warms its engine from that cache
(tripguard.runtime.warm_up), in well under a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from tripguard.runtime import warm_up

if TYPE_CHECKING:
    from tripguard.engine.core import Engine

log = logging.getLogger("tripguard.stream")

# A warm cache answers within about a second (the child's start-up and imports); a child still
# running after this is compiling, and says so.
COMPILE_NOTICE_S = 3.0


async def warm_up_off_loop(engine: Engine, stop: asyncio.Event) -> float | None:
    """warm_up(engine) after a child process has compiled the kernels into the cache; the seconds
    it all took, or None when `stop` was set first (the child is killed)."""
    from tripguard.stream.service import run_child

    started = time.perf_counter()
    child = asyncio.ensure_future(run_child("-m", "tripguard.runtime"))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({child, stopped}, timeout=COMPILE_NOTICE_S, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            log.info("compiling kernels (first run only)…")
            done, _ = await asyncio.wait({child, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if child not in done:
            return None
        code, err = child.result()
        if code != 0:  # the batches will show whether it is real; here it only costs time
            log.warning(
                "compiling the kernels in a child process failed (exit %d): %s; compiling here",
                code,
                err.decode(errors="replace").strip().splitlines()[-1:],
            )
    finally:
        stopped.cancel()
        child.cancel()  # kills the child if it still runs
        await asyncio.gather(child, return_exceptions=True)
    warm_up(engine)  # loads what the child compiled
    return time.perf_counter() - started
