"""Engine throughput on one core with 1k, 10k and 100k concurrently active trips, and memory per
active trip.

    .venv/bin/python benchmarks/bench_engine.py [--quick] [--routes]

Workload: N lanes, each a driver doing trips back to back; a trip follows a real Porto taxi track
(487 of them: drivers share the city's streets) resampled to a ping every 4 s (~170 pings a trip),
with trip_started / trip_ended events and an honest metered fare. Every
lane pings once per 4 s tick, so N trips are active at any time. Batches of 10,000 rows are built
beforehand (decoding is not the engine: `tripguard replay` measures it end to end); the engine
runs them in order after a warm-up of two trip lengths' worth of ticks. --routes also gives every
trip a planned route (its own track), so the corridor is built at trip start and every fix goes
through the route kernels.

Memory per active trip: tracemalloc (numpy reports to it) of the engine after warm-up divided by
the active trips, without the path log (the accepted fixes, "the path buffer") and, separately,
without the corridors (each taken out at the size tracemalloc counted of it); the trip table's
columns count whole even when they were allocated before counting began. Batches are let go
once processed, as a stream does, and a warm-up batch's ids and trip events are decoded again from
bytes as it is handed over, as a stream's decoder makes them: the trip_started event and the id
strings an engine keeps count towards its memory.
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pin_one_core, porto_tracks, write_result  # noqa: E402

pin_one_core()

import numpy as np  # noqa: E402

from tripguard.config.settings import Settings  # noqa: E402
from tripguard.contract import TripEnded, TripStarted  # noqa: E402
from tripguard.engine.batch import Batch, Names  # noqa: E402
from tripguard.engine.core import Engine  # noqa: E402
from tripguard.fare.tariff import load_tariffs  # noqa: E402
from tripguard.geo import encode_polyline_array  # noqa: E402
from tripguard.io.codec import decode_trip_event, dumps  # noqa: E402
from tripguard.kernels.geo import haversine_m_np  # noqa: E402
from tripguard.kernels.lifecycle import ROW_END, ROW_PING, ROW_START  # noqa: E402

TICK_MS = 4000
BATCH_ROWS = 10_000


def resampled_tracks() -> list[np.ndarray]:
    tracks, _ = porto_tracks()
    out = []
    for tr in tracks:
        t_src = np.arange(len(tr)) * 15.0
        t_new = np.arange(0.0, t_src[-1] + 1e-9, TICK_MS / 1000.0)
        out.append(np.column_stack([np.interp(t_new, t_src, tr[:, 0]), np.interp(t_new, t_src, tr[:, 1])]))
    return [t for t in out if len(t) >= 20]


def workload(lanes: int, ticks: int, routes: bool, seed: int = 0):
    """Yields the rows of each tick: (trip ids, kinds, ts, lat, lon, events by position)."""
    rng = np.random.default_rng(seed)
    tracks = resampled_tracks()
    porto = load_tariffs()["porto"]

    def honest_fare(t: np.ndarray) -> float:  # the Porto meter on the part driven: most trips raise nothing
        return round(
            porto.expected_fare(
                float(haversine_m_np(t[:-1, 0], t[:-1, 1], t[1:, 0], t[1:, 1]).sum()), (len(t) - 1) * TICK_MS / 1000.0
            ),
            2,
        )

    track = rng.integers(0, len(tracks), lanes)
    pos = np.array([rng.integers(0, len(tracks[k])) for k in track])  # lanes start mid-trip: ends spread out
    trip_no = np.arange(lanes)
    next_trip = lanes
    # drivers share the city's streets (real Porto tracks), each with its own GPS error
    offset = rng.normal(0, 0.00005, (lanes, 2))
    t0 = 1_700_000_000_000
    started = np.zeros(lanes, bool)
    first = pos.copy()  # where each lane's current trip started on its track
    for tick in range(ticks):
        now = t0 + tick * TICK_MS
        ids, kinds, ts, lat, lon, events = [], [], [], [], [], {}
        for lane in range(lanes):
            tr = tracks[track[lane]]
            tid = f"t{trip_no[lane]}"
            if not started[lane]:
                events[len(ids)] = TripStarted(
                    type="trip_started",
                    trip_id=tid,
                    driver_id=f"d{lane}",
                    city="porto",
                    ts=now - 500,
                    pickup={
                        "lat": float(tr[pos[lane], 0] + offset[lane, 0]),
                        "lon": float(tr[pos[lane], 1] + offset[lane, 1]),
                    },
                    planned_route=encode_polyline_array(
                        tr[pos[lane] :: 5, 0] + offset[lane, 0], tr[pos[lane] :: 5, 1] + offset[lane, 1]
                    )
                    if routes and len(tr) - pos[lane] > 10
                    else None,
                )
                ids.append(tid), kinds.append(ROW_START), ts.append(now - 500), lat.append(np.nan), lon.append(np.nan)
                started[lane] = True
                first[lane] = pos[lane]
            ids.append(tid), kinds.append(ROW_PING), ts.append(now + int(rng.integers(0, 200)))
            lat.append(tr[pos[lane], 0] + offset[lane, 0]), lon.append(tr[pos[lane], 1] + offset[lane, 1])
            pos[lane] += 1
            if pos[lane] >= len(tr):  # trip over: a new one starts next tick
                events[len(ids)] = TripEnded(
                    type="trip_ended",
                    trip_id=tid,
                    driver_id=f"d{lane}",
                    ts=now + 300,
                    claimed_fare=honest_fare(tr[first[lane] :]),
                    currency="EUR",
                )
                ids.append(tid), kinds.append(ROW_END), ts.append(now + 300), lat.append(np.nan), lon.append(np.nan)
                track[lane] = rng.integers(0, len(tracks))
                pos[lane] = 0
                trip_no[lane] = next_trip
                next_trip += 1
                started[lane] = False
        yield ids, kinds, ts, lat, lon, events


def batches(lanes: int, ticks: int, routes: bool) -> list[Batch]:
    out, buf = [], [[], [], [], [], [], {}]
    for ids, kinds, ts, lat, lon, events in workload(lanes, ticks, routes):
        base = len(buf[0])
        buf[5].update({base + k: v for k, v in events.items()})
        for col, vals in zip(buf[:5], (ids, kinds, ts, lat, lon)):
            col.extend(vals)
        while len(buf[0]) >= BATCH_ROWS:
            out.append(_batch(buf, BATCH_ROWS))
            rest = {k - BATCH_ROWS: v for k, v in buf[5].items() if k >= BATCH_ROWS}
            buf = [c[BATCH_ROWS:] for c in buf[:5]] + [rest]
    if buf[0]:
        out.append(_batch(buf, len(buf[0])))
    return out


def _batch(buf, n) -> Batch:
    ids, kinds, ts, lat, lon, events = buf
    return Batch.from_rows(
        trip_id=ids[:n],
        driver_id=["d"] * n,
        kind=kinds[:n],
        ts=ts[:n],
        partition=np.zeros(n, np.int64),
        lat=lat[:n],
        lon=lon[:n],
        accuracy_m=np.random.default_rng(n).uniform(3.0, 15.0, n),
        speed_mps=np.full(n, np.nan),
        mock=np.full(n, -1, np.int8),
        events={k: v for k, v in events.items() if k < n},
    )


def as_decoded(b: Batch) -> Batch:
    """The batch's ids and trip events made again from bytes, as a stream's decoder makes them when
    the batch arrives: what the engine keeps of them (the trip_started it holds until the trip
    ends, the id strings it keys its trips by) is then allocated while memory is counted, not
    beforehand with the prepared batches."""
    b.trip_names = Names([n.encode().decode() for n in b.trip_names.names])
    b.driver_names = Names([n.encode().decode() for n in b.driver_names.names])
    b.events = {
        row: decode_trip_event(dumps(ev.model_dump(mode="json", exclude_none=True))) for row, ev in b.events.items()
    }
    return b


def traced_bytes(arrays) -> int:
    """What tracemalloc counts of these arrays: those allocated since it started (an arena that
    grew during the warm-up is counted whole, the one it replaced not at all)."""
    return sum(a.nbytes for a in arrays if tracemalloc.get_object_traceback(a) is not None)


def untraced_table_bytes(engine) -> int:
    """The trip table's columns allocated before counting began (a table that did not grow during
    the warm-up): they are the engine's memory all the same, and counted whole."""
    t = engine.trips
    columns = [getattr(t, name) for name in t._COLUMNS] + [t.city]
    return sum(a.nbytes for a in columns if tracemalloc.get_object_traceback(a) is None)


def path_bytes(engine) -> int:
    p = engine.paths
    return traced_bytes((p.ts, p.lat, p.lon, p.flag, p.nxt))


def corridor_bytes(engine) -> int:
    c = engine.corridors
    return traced_bytes((c.cells, c.route_x, c.route_y, c.route_cum))


def measure(lanes: int, routes: bool, measure_ticks: int) -> dict:
    warm_ticks = 2 * 170  # two trip lengths: every lane has started and ended trips
    warm_ticks = min(warm_ticks, max(10, 3_000_000 // lanes))
    all_batches = batches(lanes, warm_ticks + measure_ticks, routes)
    n_warm = (warm_ticks * lanes) // BATCH_ROWS
    # a stream lets go of a batch once it is processed: what the engine builds on one (its ids'
    # bytes for the compiled slot lookup) must not count as the engine's memory
    warm = collections.deque(all_batches[: n_warm + 1])
    timed = all_batches[n_warm + 1 :]
    del all_batches
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    engine.process(warm.popleft())  # kernels loaded from the cache before memory is counted
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    while warm:
        engine.process(as_decoded(warm.popleft()))
    gc.collect()
    mem = tracemalloc.get_traced_memory()[0] - base + untraced_table_bytes(engine)
    path, corridor = path_bytes(engine), corridor_bytes(engine)
    tracemalloc.stop()
    live = engine.live_trips
    pings = sum(b.n_pings for b in timed)
    gc.collect()
    t = time.perf_counter()
    for b in timed:
        engine.process(b)
    elapsed = time.perf_counter() - t
    return {
        "active_trips": lanes,
        "routes": routes,
        "pings": pings,
        "seconds": elapsed,
        "pings_per_s": pings / elapsed,
        "live_trips_at_measure": live,
        "trips_closed": engine.stats.trips_closed,
        "bytes_per_trip_all": mem / live,
        "bytes_per_trip_without_path": (mem - path) / live,
        "bytes_per_trip_without_path_and_corridor": (mem - path - corridor) / live,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--routes", action="store_true", help="every trip has a planned route")
    args = ap.parse_args()
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    rows = []
    for lanes in sizes:
        for routes in (False, True) if args.routes else (False,):
            r = measure(lanes, routes, measure_ticks=max(20, 2_000_000 // lanes) if not args.quick else 20)
            rows.append(r)
            print(
                f"{lanes:>7} active trips, routes {'yes' if routes else 'no '}: {r['pings_per_s']:>11,.0f} pings/s "
                f"({r['pings']:,} pings in {r['seconds']:.2f} s); memory per active trip "
                f"{r['bytes_per_trip_without_path_and_corridor']:,.0f} B without path and corridor, "
                f"{r['bytes_per_trip_without_path']:,.0f} B without path, {r['bytes_per_trip_all']:,.0f} B in all"
            )
    print(f"-> {write_result('engine', {'rows': rows, 'batch_rows': BATCH_ROWS, 'tick_ms': TICK_MS})}")


if __name__ == "__main__":
    main()
