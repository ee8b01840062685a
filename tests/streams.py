"""Realistic little streams for engine tests: real Porto trajectories (15 s fixes), the noise of
real GPS, some fraud, and the awkward orderings of a real stream (pings before trip_started,
late pings, duplicate events, trips without trip_started or trip_ended)."""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from tripguard.engine.batch import BatchBuilder
from tripguard.io.codec import pings_from_value, trip_event_from_obj

FIXTURE = Path(__file__).parent / "data" / "porto-trips-200.csv"


@lru_cache(maxsize=1)
def porto_tracks() -> list[list[tuple[float, float]]]:
    """(lat, lon) tracks of real Porto trips (tests/data holds a 200-trip slice of the dataset)."""
    csv.field_size_limit(10**9)
    with open(FIXTURE, newline="") as fh:
        tracks = [[(lat, lon) for lon, lat in json.loads(r["POLYLINE"])] for r in csv.DictReader(fh)]
    return [t for t in tracks if len(t) >= 5]


def make_stream(seed: int, n_trips: int = 25) -> list[dict]:
    """Messages in arrival order: {"source": "pings"|"trips", "value": ...}. Every stream of 10 or
    more trips has a trip without trip_started, one whose trip_started comes late, one without
    trip_ended, (from 4 trips) a teleport and (from 6) a backlog sent after a silence."""
    rng = np.random.default_rng(seed)
    tracks = porto_tracks()
    messages = []
    for k in range(n_trips):
        track = tracks[int(rng.integers(0, len(tracks)))]
        trip_id, driver = f"trip-{seed}-{k}", f"driver-{int(rng.integers(0, 10))}"
        t0 = 1_700_000_000_000 + int(rng.integers(0, 600_000))
        fixes = []
        offset = (0.0, 0.0)
        for j, (lat, lon) in enumerate(track):
            ts = t0 + 15_000 * j + int(rng.integers(0, 400))
            if j == len(track) // 2 and (k % 7 == 3 or rng.random() < 0.1):  # teleport
                offset = (0.03, 0.0)
            p = {"trip_id": trip_id, "driver_id": driver, "ts": ts, "lat": lat + offset[0], "lon": lon + offset[1]}
            if rng.random() < 0.7:
                p["accuracy_m"] = round(float(rng.uniform(3, 20)), 1)
            if rng.random() < 0.02:
                p["lat"] += 0.02  # spike
            if rng.random() < 0.01:
                p["lat"], p["lon"] = 0.0, 0.0
            fixes.append(p)
            if rng.random() < 0.02:
                fixes.append(dict(p))  # duplicate
        arrival = [(f["ts"], i) for i, f in enumerate(fixes)]
        if k % 7 == 5 and len(fixes) > 12:  # out of coverage: six fixes sent after the live one
            a = len(fixes) // 3
            arrival[a : a + 6] = [(fixes[a + 6]["ts"] + 1 + i, i) for i in range(a, a + 6)]
        for i in range(len(arrival)):
            if rng.random() < 0.03:
                arrival[i] = (arrival[i][0] + int(rng.integers(5_000, 60_000)), i)  # late delivery
        for key, i in arrival:
            messages.append((key, 1, {"source": "pings", "value": fixes[i]}))
        end_ts = fixes[-1]["ts"] + 1_000
        start = {
            "type": "trip_started",
            "trip_id": trip_id,
            "driver_id": driver,
            "city": "porto",
            "ts": t0 - 500,
            "pickup": {"lat": track[0][0], "lon": track[0][1]},
        }
        end = {
            "type": "trip_ended",
            "trip_id": trip_id,
            "driver_id": driver,
            "ts": end_ts,
            "claimed_fare": round(3.25 + 0.47 * len(track) * 0.15, 2),
            "currency": "EUR",
            "claimed_distance_m": 150.0 * len(track),
        }
        r = rng.random()
        if k % 10 == 0 or r < 0.05:
            start = None  # the backend never sent trip_started
        elif k % 10 == 1 or r < 0.1:
            start["ts"] += 40_000  # trip_started delivered after the first pings
        if k % 10 == 2 or rng.random() < 0.05:
            end = None  # idle timeout or end of input closes it
        for ev in (start, end):
            if ev is not None:
                messages.append((ev["ts"], 0, {"source": "trips", "value": ev}))
                if rng.random() < 0.05:
                    messages.append((ev["ts"] + 10, 0, {"source": "trips", "value": dict(ev)}))  # duplicate
    messages.sort(key=lambda m: (m[0], m[1]))
    return [m[2] for m in messages]


def build_batches(messages: list[dict], cuts: list[int]) -> list:
    """The stream cut at the given message positions."""
    bounds = sorted(set(c for c in cuts if 0 < c < len(messages)))
    out = []
    for a, b in zip([0] + bounds, bounds + [len(messages)]):
        builder = BatchBuilder()
        for m in messages[a:b]:
            if m["source"] == "pings":
                builder.add_pings(pings_from_value(m["value"]))
            else:
                builder.add_trip_event(trip_event_from_obj(m["value"]))
        out.append(builder.build())
    return out


def comparable(alerts: list[dict], verdicts: list[dict]) -> tuple[list, list]:
    """Outputs without wall-clock fields, in a canonical order."""
    a = sorted(json.dumps({k: v for k, v in x.items() if k != "detected_at"}, sort_keys=True) for x in alerts)
    v = sorted(json.dumps(x, sort_keys=True) for x in verdicts)
    return a, v
