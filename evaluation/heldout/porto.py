"""The real Porto taxi trips (ECML/PKDD 2015 layout) of the held-out half.

The split is fixed: a trip belongs to the evaluation half when crc32(TRIP_ID) is odd; the team
tunes on the even half. Fixes are one every 15 s; the real faults in them are kept as they are.
"""

from __future__ import annotations

import csv
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLING_S = 15.0
MIN_FIXES = 5


def is_eval(trip_id: str) -> bool:
    return zlib.crc32(trip_id.encode()) % 2 == 1


@dataclass(frozen=True)
class RealTrip:
    trip_id: str
    taxi_id: str
    start_unix_s: int
    lat: np.ndarray
    lon: np.ndarray

    @property
    def n(self) -> int:
        return len(self.lat)

    @property
    def duration_s(self) -> float:
        return (self.n - 1) * SAMPLING_S


def load_eval_trips(path: Path | str, part: str = "eval") -> list[RealTrip]:
    """Eval-half trips with at least MIN_FIXES fixes, sorted by TRIP_ID (a stable order for seeding).
    part="tune" takes the other half instead: for diagnosing the detectors without looking at the
    trips the figures are reported on."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            tid = row["TRIP_ID"]
            if is_eval(tid) != (part == "eval"):
                continue
            pts = json.loads(row["POLYLINE"])
            if len(pts) < MIN_FIXES:
                continue
            arr = np.asarray(pts, dtype=np.float64)
            out.append(RealTrip(tid, row["TAXI_ID"], int(row["TIMESTAMP"]), arr[:, 1].copy(), arr[:, 0].copy()))
    out.sort(key=lambda t: t.trip_id)
    return out
