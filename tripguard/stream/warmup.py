"""Compile the engine's kernels before the worker joins its consumer group.

Numba compiles a kernel on its first call (or loads it from the cache). Done inside the first
batch, a cold compile blocks the event loop for many seconds: no heartbeats, so the group may
evict the member and rebalance. A short made-up trip through a throwaway engine moves that cost
to start-up, where it is logged on its own.

A cold compile takes tens of seconds, so the worker does not run it on its event loop:
`python -m tripguard.stream.warmup` compiles in a child process and fills Numba's on-disk cache
while the loop keeps turning (Kafka clients, /healthz, SIGINT and SIGTERM, on which the child is
killed at once). The worker then loads the kernels from that cache, in well under a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import orjson

from tripguard.batch import BatchBuilder
from tripguard.codec import decode_pings, trip_event_from_obj
from tripguard.columnar import decode_ping_messages, join_values
from tripguard.geo import encode_polyline

if TYPE_CHECKING:
    from tripguard.engine import Engine

log = logging.getLogger("tripguard.stream")

_T0_MS = 1_500_000_000_000
# A warm cache answers within about a second (the child's start-up and imports); a child still
# running after this is compiling, and says so.
COMPILE_NOTICE_S = 3.0


def warm_up(engine: Engine) -> float:
    """Run one trip with a planned route, a teleport and a fare claim through `engine`; returns
    the seconds it took. The engine must be thrown away afterwards."""
    started = time.perf_counter()
    n = 30
    lat = 41.15 + np.linspace(0.0, 0.02, n)
    lon = np.full(n, -8.61)
    route = encode_polyline(np.column_stack([lat, lon]))
    builder = BatchBuilder()
    builder.add_trip_event(
        trip_event_from_obj(
            {
                "type": "trip_started",
                "trip_id": "warm-up",
                "driver_id": "warm-up",
                "city": "porto",
                "ts": _T0_MS,
                "pickup": {"lat": float(lat[0]), "lon": float(lon[0])},
                "planned_route": route,
                "planned_distance_m": 2300.0,
                "planned_duration_s": 450.0,
                "quoted_fare": 6.0,
            }
        )
    )
    values = [
        orjson.dumps(
            {
                "trip_id": "warm-up",
                "driver_id": "warm-up",
                "ts": _T0_MS + 1000 + 15_000 * i,
                "lat": float(lat[i] + (0.03 if i > n // 2 else 0.0)),
                "lon": float(lon[i]),
                "accuracy_m": 5.0,
            }
        )
        for i in range(n)
    ]
    buf, starts, ends = join_values(values)  # the worker decodes a fetch's pings with these kernels
    cols = decode_ping_messages(buf, starts, ends, lambda m: decode_pings(values[m]))
    for m in range(n):
        builder.add_pings(cols.rows(m))
    builder.add_trip_event(
        trip_event_from_obj(
            {
                "type": "trip_ended",
                "trip_id": "warm-up",
                "driver_id": "warm-up",
                "ts": _T0_MS + 15_000 * n + 2000,
                "claimed_fare": 25.0,
                "currency": "EUR",
                "claimed_distance_m": 2300.0,
            }
        )
    )
    engine.process(builder.build(), now_ms=_T0_MS)
    engine.flush(now_ms=_T0_MS)
    return time.perf_counter() - started


async def warm_up_off_loop(engine: Engine, stop: asyncio.Event) -> float | None:
    """warm_up(engine) after a child process has compiled the kernels into the cache; the seconds
    it all took, or None when `stop` was set first (the child is killed)."""
    from tripguard.stream.service import run_child

    started = time.perf_counter()
    child = asyncio.ensure_future(run_child("-m", "tripguard.stream.warmup"))
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


if __name__ == "__main__":
    from tripguard.engine import Engine
    from tripguard.settings import load_settings

    warm_up(Engine.from_settings(load_settings()))
