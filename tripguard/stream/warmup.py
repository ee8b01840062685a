"""Compile the engine's kernels before the worker joins its consumer group.

Numba compiles a kernel on its first call (or loads it from the cache). Done inside the first
batch, a cold compile blocks the event loop for many seconds: no heartbeats, so the group may
evict the member and rebalance. A short made-up trip through a throwaway engine moves that cost
to start-up, where it is logged on its own.
"""

from __future__ import annotations

import time

import numpy as np

from tripguard.batch import BatchBuilder
from tripguard.codec import pings_from_value, trip_event_from_obj
from tripguard.geo import encode_polyline

_T0_MS = 1_500_000_000_000


def warm_up(engine) -> float:
    """Run one trip with a planned route, a teleport and a fare claim through `engine`; returns
    the seconds it took. The engine must be thrown away afterwards."""
    started = time.perf_counter()
    n = 30
    lat = 41.15 + np.linspace(0.0, 0.02, n)
    lon = np.full(n, -8.61)
    route = encode_polyline(np.column_stack([lat, lon]))
    builder = BatchBuilder()
    builder.add_trip_event(trip_event_from_obj({
        "type": "trip_started", "trip_id": "warm-up", "driver_id": "warm-up", "city": "porto", "ts": _T0_MS,
        "pickup": {"lat": float(lat[0]), "lon": float(lon[0])}, "planned_route": route,
        "planned_distance_m": 2300.0, "planned_duration_s": 450.0, "quoted_fare": 6.0}))
    for i in range(n):
        jump = 0.03 if i > n // 2 else 0.0
        builder.add_pings(pings_from_value({"trip_id": "warm-up", "driver_id": "warm-up", "ts": _T0_MS + 1000 + 15_000 * i,
                                            "lat": float(lat[i] + jump), "lon": float(lon[i]), "accuracy_m": 5.0}))
    builder.add_trip_event(trip_event_from_obj({
        "type": "trip_ended", "trip_id": "warm-up", "driver_id": "warm-up", "ts": _T0_MS + 15_000 * n + 2000,
        "claimed_fare": 25.0, "currency": "EUR", "claimed_distance_m": 2300.0}))
    engine.process(builder.build(), now_ms=_T0_MS)
    engine.flush(now_ms=_T0_MS)
    return time.perf_counter() - started
