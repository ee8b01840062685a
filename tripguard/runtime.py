"""What a long-running process (`tripguard run`, `tripguard replay`) does around its hot loop:
compile the engine's kernels first (`warm_up`; `python -m tripguard.runtime` fills Numba's cache,
as `make install` does), and let the garbage collector run less often.

Numba compiles a kernel on its first call (or loads it from the cache). Done inside the first
batch, a cold compile stalls it for many seconds; a short made-up trip through a throwaway engine
moves that cost to start-up, where it is reported on its own (the worker runs it off its event
loop: tripguard.stream.warmup)."""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING

import numpy as np
import orjson

from tripguard.engine.batch import BatchBuilder
from tripguard.geo import encode_polyline
from tripguard.io.codec import decode_pings, trip_event_from_obj
from tripguard.io.columnar import decode_ping_messages, join_values
from tripguard.kernels.merge import first_at_least

if TYPE_CHECKING:
    from tripguard.engine.core import Engine

GC_THRESHOLD_0 = 100_000
_T0_MS = 1_500_000_000_000


def tune_gc_for_throughput() -> None:
    """Let the cyclic garbage collector run less often.

    Every ping allocates a few small objects (the decoded dict, its row, the record wrapper) that
    die young, so with CPython's default first threshold (700 allocations) the collector runs every
    few hundred pings and keeps walking the same long-lived objects: about a fifth of replay's time
    (measured: 120 k -> 154 k pings/s on single-ping messages). Nothing on the hot path builds
    reference cycles, so collecting every 100 k allocations holds memory just as well."""
    gc.set_threshold(GC_THRESHOLD_0, 50, 100)


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
    first_at_least(cols.cols["ts"][cols.row0], 0, _T0_MS)  # the worker's aligner cuts a fetch's pings with it
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


if __name__ == "__main__":
    from tripguard.config.settings import load_settings
    from tripguard.engine.core import Engine

    warm_up(Engine.from_settings(load_settings()))
