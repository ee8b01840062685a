"""Real Porto trajectories (ECML/PKDD 2015 taxi data) as honest simulation bases.

The file is the Kaggle/UCI train.csv layout: TRIP_ID, TAXI_ID, TIMESTAMP (trip start, unix s),
POLYLINE (JSON list of [lon, lat], one fix every 15 s). The recorded fixes are kept as they are,
real GPS faults included; only the estimate of the distance the taxi really drove removes them.

True distance estimate (the odometer's truth, on which the honest fare is computed):
1. out-and-back spikes are removed: a run of 1-5 fixes that the trace jumps to and back from
   (both jumps > 300 m, > 2.5x the distance between the fixes around the run, and > 20 m/s);
2. the remaining steps are summed, except steps faster than 55 m/s (198 km/h, the city's
   physical limit in data/cities.toml; these are persistent GPS faults such as a stale first fix
   or a re-acquired position), which count as the trip's median step instead of the jump.
   Slower long steps are kept at face value: the data has missing fixes, and a 700 m step in
   "15 s" is usually two or three fixes lost at street speed.
"""

from __future__ import annotations

import csv
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path as FsPath

import numpy as np
import orjson

from tripguard.errors import InputError
from tripguard.simulate.drive import position_on
from tripguard.simulate.geodesy import haversine_m
from tripguard.simulate.trace import Path, Trace, speeds_from_positions

REAL_INTERVAL_S = 15.0
MIN_FIXES = 5
SPIKE_MIN_JUMP_M = 300.0
SPIKE_RATIO = 2.5
SPIKE_MIN_SPEED_MPS = 20.0
FAULT_SPEED_MPS = 55.0
STANDING_SPEED_MPS = 0.5  # slower than this between 15 s fixes: GPS wander, not driving
DEVICE_SPEED_CAP_MPS = 35.0
REQUIRED_COLUMNS = ("TRIP_ID", "TIMESTAMP", "POLYLINE")
# The accuracy figures are reported on trips the detectors' parameters were never chosen on: a
# real trip belongs to one fixed part by the parity of the CRC-32 of its TRIP_ID (stable across
# files, machines and Python versions, unlike hash()).
SPLITS = ("tune", "eval", "all")


def split_of(trip_id: str) -> str:
    """ "tune" or "eval": the fixed part of the real data a trip belongs to."""
    return "eval" if zlib.crc32(trip_id.encode("utf-8")) % 2 else "tune"


@dataclass(frozen=True)
class RealTrip:
    trip_id: str
    taxi_id: str
    start_unix_s: int
    lat: np.ndarray
    lon: np.ndarray


@dataclass(frozen=True)
class RealRead:
    trips: list[RealTrip]
    rows: int
    skipped_short: int  # fewer than MIN_FIXES fixes
    skipped_bad: int  # POLYLINE or TIMESTAMP unreadable, or coordinates out of range


def read_real_trips(path: FsPath | str, limit: int | None = None, split: str = "all") -> RealRead:
    """Read the trips of a Porto taxi CSV; rows with < 5 fixes or unreadable fields are counted.
    split "tune" or "eval" keeps only the trips of that part (split_of); rows of the other part
    are not counted."""
    path = FsPath(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    trips: list[RealTrip] = []
    rows = short = bad = 0
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from None
    with fh:
        try:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected the Porto taxi layout "
                    "TRIP_ID,CALL_TYPE,ORIGIN_CALL,ORIGIN_STAND,TAXI_ID,TIMESTAMP,DAY_TYPE,MISSING_DATA,POLYLINE"
                )
            seen: set[str] = set()
            for row in reader:
                if limit is not None and len(trips) >= limit:
                    break
                rows += 1
                try:
                    coords = np.asarray(orjson.loads(row["POLYLINE"] or "[]"), dtype=np.float64).reshape(-1, 2)
                    start = int(row["TIMESTAMP"])
                except (orjson.JSONDecodeError, ValueError, TypeError):
                    bad += 1
                    continue
                trip_id = (row["TRIP_ID"] or "").strip()
                if split != "all" and trip_id and split_of(trip_id) != split:
                    rows -= 1
                    continue
                if (
                    not trip_id
                    or trip_id in seen
                    or not np.all(np.isfinite(coords))
                    or np.any(np.abs(coords[:, 1]) > 90)
                    or np.any(np.abs(coords[:, 0]) > 180)
                ):
                    bad += 1
                    continue
                if len(coords) < MIN_FIXES:
                    short += 1
                    continue
                seen.add(trip_id)
                trips.append(
                    RealTrip(
                        trip_id, (row.get("TAXI_ID") or "").strip(), start, coords[:, 1].copy(), coords[:, 0].copy()
                    )
                )
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise InputError(f"{path}: not a readable CSV ({exc})") from None
    return RealRead(trips, rows, short, bad)


def spike_mask(
    lat: np.ndarray,
    lon: np.ndarray,
    dt_s: float = REAL_INTERVAL_S,
    max_run: int = 5,
    min_jump_m: float = SPIKE_MIN_JUMP_M,
    min_speed_mps: float = SPIKE_MIN_SPEED_MPS,
) -> np.ndarray:
    """True for fixes in out-and-back spikes (runs of 1..max_run fixes), see the module doc."""
    n = len(lat)
    keep = np.ones(n, dtype=bool)
    changed = True
    while changed:
        changed = False
        idx = np.flatnonzero(keep)
        for run in range(1, max_run + 1):
            if len(idx) < run + 2:
                break
            a = idx[: len(idx) - run - 1]
            first = idx[1 : len(idx) - run]
            last = idx[run : len(idx) - 1]
            b = idx[run + 1 :]
            d_in = haversine_m(lat[a], lon[a], lat[first], lon[first])
            d_out = haversine_m(lat[last], lon[last], lat[b], lon[b])
            d_ab = haversine_m(lat[a], lon[a], lat[b], lon[b])
            jump = np.minimum(d_in, d_out)
            v_in = d_in / ((first - a) * dt_s)
            v_out = d_out / ((b - last) * dt_s)
            hit = (jump > min_jump_m) & (jump > SPIKE_RATIO * d_ab) & (np.minimum(v_in, v_out) > min_speed_mps)
            if hit.any():
                p = int(np.flatnonzero(hit)[0])  # one at a time: removing it changes its neighbours
                keep[idx[p + 1 : p + 1 + run]] = False
                changed = True
                break
    return ~keep


def true_distance_m(lat: np.ndarray, lon: np.ndarray, spikes: np.ndarray, dt_s: float = REAL_INTERVAL_S) -> float:
    """The module doc's estimate of the distance really driven."""
    idx = np.flatnonzero(~spikes)
    if len(idx) < 2:
        return 0.0
    step = haversine_m(lat[idx[:-1]], lon[idx[:-1]], lat[idx[1:]], lon[idx[1:]])
    speed = step / (np.diff(idx) * dt_s)
    # a standing taxi's fixes wander a few metres each (median 2.5 m per 15 s): an odometer does
    # not count that
    step = np.where(speed < STANDING_SPEED_MPS, 0.0, step)
    fault = speed > FAULT_SPEED_MPS
    if not fault.any():
        return float(step.sum())
    typical = float(np.median(step[~fault])) if (~fault).any() else 0.0
    return float(step[~fault].sum() + typical * fault.sum())


def real_trace(trip: RealTrip) -> tuple[Trace, np.ndarray]:
    """The honest base of a real trip, and its spike mask."""
    n = len(trip.lat)
    t = np.arange(n) * REAL_INTERVAL_S
    spikes = spike_mask(trip.lat, trip.lon)
    clean = np.flatnonzero(~spikes)
    path = Path.of(trip.lat[clean], trip.lon[clean])
    s = np.interp(t, t[clean], path.s_m)  # spike fixes get the distance of their time
    # The phone's own speed (Doppler) does not see position faults: cap what the fix spacing says.
    speed = np.minimum(speeds_from_positions(t, s), DEVICE_SPEED_CAP_MPS)
    _, _, brg = position_on(path.lat, path.lon, path.s_m, s)
    trace = Trace(
        t_s=t,
        lat=trip.lat.copy(),
        lon=trip.lon.copy(),
        s_m=s,
        speed_mps=speed,
        bearing_deg=brg,
        path=path,
        duration_s=float(t[-1]),
        true_distance_m=true_distance_m(trip.lat, trip.lon, spikes),
        real=True,
    )
    return trace, spikes


def moving_speed_mps(trace: Trace) -> float:
    """Median speed while moving (> 2 m/s), for synthesizing fixes at the trip's pace."""
    moving = trace.speed_mps[trace.speed_mps > 2.0]
    return float(np.median(moving)) if len(moving) else 8.0
