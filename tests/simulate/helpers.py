"""Reading a simulator run back, and measuring on it what the brief says must be there."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tripguard.contract import PingRow, TripEnded, TripStarted
from tripguard.io.codec import PROVIDER_CODE, decode_pings, decode_trip_event
from tripguard.simulate.geodesy import haversine_m
from tripguard.simulate.real import spike_mask

NETWORK = PROVIDER_CODE["network"]


@dataclass
class Run:
    lines: list[bytes]
    pings: dict[str, list[tuple[int, PingRow]]]  # trip -> (line number, ping) in file order
    started: dict[str, TripStarted]
    ended: dict[str, TripEnded]
    trip_lines: list[TripStarted | TripEnded]
    labels: dict[str, dict[str, str]]


def load_run(out: Path) -> Run:
    lines = (out / "pings.jsonl").read_bytes().splitlines()
    pings: dict[str, list[tuple[int, PingRow]]] = defaultdict(list)
    for n, line in enumerate(lines):
        for row in decode_pings(line):
            pings[row.trip_id].append((n, row))
    events = [decode_trip_event(line) for line in (out / "trips.jsonl").read_bytes().splitlines()]
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = {r["trip_id"]: r for r in csv.DictReader(fh)}
    return Run(
        lines=lines,
        pings=dict(pings),
        started={e.trip_id: e for e in events if e.type == "trip_started"},
        ended={e.trip_id: e for e in events if e.type == "trip_ended"},
        trip_lines=events,
        labels=labels,
    )


def clean_fixes(rows: list[PingRow]) -> list[PingRow]:
    """What a careful consumer keeps for kinematics: ts order, one copy of re-sent fixes, no
    (0, 0) fixes, no coarse network fixes."""
    seen = set()
    out = []
    for r in sorted(rows, key=lambda r: r.ts):
        key = (r.ts, r.lat, r.lon)
        if key in seen:
            continue
        seen.add(key)
        if r.lat == 0.0 and r.lon == 0.0:
            continue
        if r.provider == NETWORK or (r.accuracy_m == r.accuracy_m and r.accuracy_m > 150.0):
            continue
        out.append(r)
    return out


def arrays(rows: list[PingRow]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([r.ts for r in rows], dtype=np.float64) / 1000.0,
        np.array([r.lat for r in rows]),
        np.array([r.lon for r in rows]),
    )


def persistent_jumps(
    rows: list[PingRow], min_m: float, confirm: int = 3, warmup_s: float = 60.0, max_speed_mps: float = 55.0
) -> list[tuple[int, float]]:
    """Steps longer than min_m and faster than max_speed_mps after which the trace does not come
    back: none of the next `confirm` steps is a return jump (longer than half the jump and
    faster than max_speed_mps), which is what a multipath spike (1-2 fixes) does, and the step is
    not itself such a return (a big step in the 2 steps before it). GPS warm-up
    (the first warmup_s) and tunnel gaps (slow on average) are not jumps. (index, jump_m)."""
    t, lat, lon = arrays(rows)
    if len(t) < 2:
        return []
    step = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    speed = step / np.maximum(np.diff(t), 1e-3)
    out = []
    for i in range(1, len(rows) - confirm):
        s = i - 1  # the step from fix i-1 to fix i
        if t[i] - t[0] < warmup_s or step[s] < min_m or speed[s] <= max_speed_mps:
            continue
        big = (step > 0.5 * step[s]) & (speed > max_speed_mps)
        returned = np.any(big[s + 1 : s + 1 + confirm])
        is_a_return = np.any(big[max(s - 2, 0) : s])  # the way back from a 1-2 fix spike
        if not returned and not is_a_return:
            out.append((i, float(step[s])))
    return out


def fast_runs(rows: list[PingRow], speed_mps: float) -> list[tuple[int, float]]:
    """Runs of consecutive steps faster than speed_mps: (steps, duration_s)."""
    t, lat, lon = arrays(rows)
    if len(t) < 2:
        return []
    v = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]) / np.maximum(np.diff(t), 1e-3)
    runs = []
    start = None
    for i, fast in enumerate(np.append(v > speed_mps, False)):
        if fast and start is None:
            start = i
        elif not fast and start is not None:
            runs.append((i - start, float(t[i] - t[start])))
            start = None
    return runs


def path_length_m(rows: list[PingRow]) -> float:
    """GPS path length without out-and-back spikes (the spike test of the real-data reader,
    at the trace's own fix spacing, down to 100 m) and without a first fix that the trace
    leaves faster than 30 m/s (a stale or faulty first fix)."""
    t, lat, lon = arrays(rows)
    if len(lat) < 3:
        return 0.0
    keep = ~spike_mask(lat, lon, dt_s=float(np.median(np.diff(t))), min_jump_m=100.0, min_speed_mps=30.0)
    t, lat, lon = t[keep], lat[keep], lon[keep]
    if haversine_m(lat[0], lon[0], lat[1], lon[1]) / max(t[1] - t[0], 1e-3) > 30.0:
        lat, lon = lat[1:], lon[1:]
    return float(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())
