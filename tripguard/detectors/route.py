"""route_deviation: corridors from planned routes, excursions out of them, detour ratios.

The corridor of a trip is built once, at trip_started, off the hot path: the planned route is
densified so that consecutive points are closer than a cell's inner radius (consecutive cells are
then equal or neighbours: no gaps), indexed, and dilated by `ring`: the union of the cells' H3
disks (grid_disk), compiled over a table of the disks seen before (kernels/h3disk.py). Each step
is a kernel: one trip start costs a few kernel calls, no Python loop over its points or cells. It
is kept in one arena for all trips (sorted cells per trip) that the excursion kernel searches.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Annotated

import h3.api.basic_int as h3i
import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS, number
from tripguard.detectors import Finding, fixes_between, margin_score, params_dict
from tripguard.kernels import corridor as C
from tripguard.kernels.geo import haversine_m_np
from tripguard.kernels.h3disk import DiskTable
from tripguard.kernels.h3index import latlng_to_cell_trajectory

VERSION = "1.0"
MAX_EVIDENCE_POINTS = 80


@dataclass(frozen=True, config=PARAMS)
class RouteParams:
    """data/cities.toml [<city>.route]."""

    h3_res: Annotated[int, Field(ge=0, le=15)]
    ring: Annotated[int, Field(ge=0)]
    min_fixes: Annotated[int, Field(ge=1)]
    # the thresholds a finding's margin is measured against (divisors): above zero
    excursion_min_dist_m: Annotated[float, number(gt=0.0)]
    excursion_min_extra_m: Annotated[float, number(gt=0.0)]
    excursion_end_near_m: Annotated[float, number(ge=0.0)]
    excursion_min_extra_s: Annotated[float, number(ge=0.0)]
    excursion_stop_s: Annotated[float, number(gt=0.0)]
    trip_min_extra_m: Annotated[float, number(gt=0.0)]
    trip_min_ratio: Annotated[float, number(gt=0.0)]
    trip_min_time_ratio: Annotated[float, number(gt=0.0)]
    straight_line_factor: Annotated[float, number(gt=0.0)]
    straight_line_min_extra_m: Annotated[float, number(gt=0.0)]
    learned_min_pair_trips: Annotated[int, Field(ge=1)]
    learned_rare_share: Annotated[float, number(ge=0.0, le=1.0)]
    learned_min_rare_fraction: Annotated[float, number(ge=0.0, le=1.0)]
    learned_min_rare_cells: Annotated[int, Field(ge=0)]

    def row(self) -> np.ndarray:
        return np.array(
            [
                self.min_fixes,
                self.excursion_min_dist_m,
                self.excursion_min_extra_m,
                self.excursion_end_near_m,
                self.excursion_min_extra_s,
                self.excursion_stop_s,
            ],
            np.float64,
        )


def densify(route: np.ndarray, spacing_m: float) -> np.ndarray:
    """Points along the (lat, lon) polyline no farther apart than spacing_m (the numpy twin of the
    densification in kernels/corridor.route_cells)."""
    lat, lon = route[:, 0], route[:, 1]
    seg = haversine_m_np(lat[:-1], lon[:-1], lat[1:], lon[1:])
    parts = np.maximum(1, np.ceil(seg / spacing_m).astype(np.int64))
    idx = np.repeat(np.arange(len(seg)), parts)
    first = np.repeat(np.cumsum(parts) - parts, parts)  # index of each segment's first point
    t = (np.arange(idx.size) - first) / parts[idx]
    dlon = (lon[1:] - lon[:-1] + 540.0) % 360.0 - 180.0  # the short way across the antimeridian
    out_lat = lat[idx] + t * (lat[idx + 1] - lat[idx])
    out_lon = (lon[idx] + t * dlon[idx] + 540.0) % 360.0 - 180.0
    return np.vstack([np.column_stack([out_lat, out_lon]), route[-1:]])


def latlng_to_cell(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    """H3 cells (int64: H3 indexes fit in 63 bits) of fixes in trajectory order (the Numba kernel,
    equal to h3-py's latlng_to_cell)."""
    return latlng_to_cell_trajectory(lat, lon, res).view(np.int64)


def _grid_disk(cell: int, ring: int) -> np.ndarray:
    return np.array(h3i.grid_disk(cell, ring), np.int64)


# ring -> the disks of the cells seen so far: routes of a city share their streets, so nearly
# every cell was dilated before and a corridor is one compiled union (kernels/h3disk.py)
_DISKS: dict[int, DiskTable] = {}


@lru_cache(maxsize=16)
def _inner_radius_m(res: int) -> float:
    return float(h3i.average_hexagon_edge_length(res, "m")) * math.sqrt(3) / 2


def route_cells(route: np.ndarray, res: int) -> np.ndarray:
    """The cells the route passes through, in route order, consecutive duplicates removed: the
    route densified to half a cell's inner radius, so consecutive cells are equal or neighbours."""
    return C.route_cells(route[:, 0], route[:, 1], 0.5 * _inner_radius_m(res), res).view(np.int64)


def build_corridor(route: np.ndarray, res: int, ring: int) -> np.ndarray:
    """Sorted unique int64 H3 cells: the route's cells dilated by ring."""
    core = route_cells(route, res)
    if ring == 0:
        return np.unique(core)
    table = _DISKS.get(ring)
    if table is None:
        table = _DISKS[ring] = DiskTable(ring, partial(_grid_disk, ring=ring))
    return table.union(core)


SPAN_MAX = int(np.iinfo(np.int32).max)


class Corridors:
    """All live trips' corridors in flat arrays, each trip a [lo, hi) slice (an arena).

    A new corridor is written in place at the end; a closed trip's slice becomes garbage. When the
    arrays are full, the live slices are moved to the front (and the arrays doubled if that is
    not enough room; compiled, kernels/corridor.compact): appending costs O(1) amortised, never a
    copy of the whole arena per batch."""

    def __init__(self, capacity: int, cells: int = 1 << 16, points: int = 1 << 14):
        self.cells = np.empty(cells, np.int64)
        self.route_x = np.empty(points, np.float64)
        self.route_y = np.empty(points, np.float64)
        self.route_cum = np.empty(points, np.float64)
        self.n_cells = self.n_points = 0
        # each slot's spans in the arenas, 32-bit: per slot of the trip table, live trip or not
        self.cell_lo = np.zeros(capacity, np.int32)
        self.cell_hi = np.zeros(capacity, np.int32)
        self.route_lo = np.zeros(capacity, np.int32)
        self.route_hi = np.zeros(capacity, np.int32)
        self._live = np.zeros(capacity, bool)

    def ensure(self, capacity: int) -> None:
        grow = capacity - len(self.cell_lo)
        if grow > 0:
            self.cell_lo, self.cell_hi, self.route_lo, self.route_hi = (
                np.concatenate([a, np.zeros(grow, np.int32)])
                for a in (self.cell_lo, self.cell_hi, self.route_lo, self.route_hi)
            )
            self._live = np.concatenate([self._live, np.zeros(grow, bool)])

    def add(self, slot: int, cells: np.ndarray, x: np.ndarray, y: np.ndarray, cum: np.ndarray) -> None:
        if self.n_cells + cells.size > self.cells.size or self.n_points + x.size > self.route_x.size:
            self._make_room(cells.size, x.size)
        a, b = self.n_cells, self.n_cells + cells.size
        c, d = self.n_points, self.n_points + x.size
        self.cells[a:b] = cells
        self.route_x[c:d], self.route_y[c:d], self.route_cum[c:d] = x, y, cum
        self.cell_lo[slot], self.cell_hi[slot], self.route_lo[slot], self.route_hi[slot] = a, b, c, d
        self.n_cells, self.n_points = b, d
        self._live[slot] = True

    def remove(self, slot: int) -> None:
        if slot >= self._live.size:  # never had a corridor (the arena grows on first use)
            return
        self._live[slot] = False
        self.cell_lo[slot] = self.cell_hi[slot] = self.route_lo[slot] = self.route_hi[slot] = 0

    def holds(self, slot: int) -> bool:
        return slot < self._live.size and bool(self._live[slot])

    def slice(self, slot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.cell_lo[slot], self.cell_hi[slot]
        c, d = self.route_lo[slot], self.route_hi[slot]
        return self.cells[a:b], self.route_x[c:d], self.route_y[c:d], self.route_cum[c:d]

    def _make_room(self, more_cells: int, more_points: int) -> None:
        slots = np.flatnonzero(self._live)
        n_cells = int((self.cell_hi[slots] - self.cell_lo[slots]).sum())
        n_points = int((self.route_hi[slots] - self.route_lo[slots]).sum())
        if max(n_cells + more_cells, n_points + more_points) > SPAN_MAX // 2:
            raise OverflowError("corridor arena past 32-bit spans")  # ~1e9 cells: far beyond any worker's trips
        self.cells, self.route_x, self.route_y, self.route_cum, self.n_cells, self.n_points = C.compact(
            slots,
            self.cell_lo,
            self.cell_hi,
            self.cells,
            self.route_lo,
            self.route_hi,
            self.route_x,
            self.route_y,
            self.route_cum,
            max(self.cells.size, 2 * (n_cells + more_cells)),
            max(self.route_x.size, 2 * (n_points + more_points)),
        )


def path_points(path: tuple, t0: float, t1: float, role: str = "excursion") -> list[dict]:
    ts, lat, lon, _ = path
    return [
        {"role": role, "ts": int(ts[i]), "lat": round(float(lat[i]), 6), "lon": round(float(lon[i]), 6)}
        for i in fixes_between(ts, t0, t1, MAX_EVIDENCE_POINTS)
    ]


def excursion_finding(e: np.ndarray, p: RouteParams, path: tuple, planned_distance_m: float | None) -> Finding:
    extra = float(e[C.X_EXTRA_M])
    extra_s = float(e[C.X_EXTRA_S])
    margin = min(
        extra / p.excursion_min_extra_m,
        float(e[C.X_MAXD_M]) / p.excursion_min_dist_m,
        extra_s / p.excursion_min_extra_s if p.excursion_min_extra_s > 0 else math.inf,
    )
    score = margin_score(max(margin, 1.0))
    ended_outside = e[C.X_CLOSED] == 0.0
    return Finding(
        kind="route_deviation",
        score=score,
        ts=int(e[C.X_END_TS]),
        evidence={
            "summary": (
                f"left the planned route for {e[C.X_LEN_M] / 1000:.2f} km, "
                f"{extra / 1000:.2f} km and {extra_s / 60:.0f} min more than the route, "
                f"up to {e[C.X_MAXD_M]:.0f} m away" + (" (ended off the route)" if ended_outside else "")
            ),
            "points": path_points(path, e[C.X_START_TS], e[C.X_END_TS]),
            "excursion_length_m": round(float(e[C.X_LEN_M]), 1),
            "planned_length_m": round(float(e[C.X_PLANNED_M]), 1),
            "extra_distance_m": round(extra, 1),
            "excursion_duration_s": round(float(e[C.X_DURATION_S]), 1),
            "extra_time_s": round(extra_s, 1),
            "reference_pace_mps": round(float(e[C.X_REF_MPS]), 2),
            "longest_standstill_s": round(float(e[C.X_STILL_S]), 1),
            "farthest_from_route_m": round(float(e[C.X_MAXD_M]), 1),
            "farthest_ts": int(e[C.X_MAXD_TS]),
            "fixes_outside": int(e[C.X_N_FIXES]),
            "rejoined_route": not ended_outside,
            "planned_distance_m": planned_distance_m,
            "corridor": {"h3_res": p.h3_res, "ring": p.ring},
            "thresholds": {
                "min_fixes": p.min_fixes,
                "excursion_min_dist_m": p.excursion_min_dist_m,
                "excursion_min_extra_m": p.excursion_min_extra_m,
                "excursion_min_extra_s": p.excursion_min_extra_s,
                "excursion_stop_s": p.excursion_stop_s,
            },
        },
        detector="route.excursion",
        version=VERSION,
        params=params_dict(p),
    )


def detour_finding(
    p: RouteParams,
    gps_distance_m: float,
    reference_m: float,
    reference: str,
    ts: int,
    min_ratio: float,
    min_extra_m: float,
    duration_s: float | None = None,
    reference_duration_s: float | None = None,
    min_time_ratio: float | None = None,
) -> Finding | None:
    """Trip level, for a trip without a route to follow: the GPS distance against the planned (or
    straight-line) distance, and -- when the reference has a duration (the app's ETA) -- the
    trip's duration against it: a longer route that is not slower is an honest alternative."""
    if reference_m <= 0:
        return None
    ratio = gps_distance_m / reference_m
    extra = gps_distance_m - reference_m
    if ratio < min_ratio or extra < min_extra_m:
        return None
    timed = duration_s is not None and reference_duration_s and min_time_ratio is not None
    time_ratio = duration_s / reference_duration_s if timed else None  # type: ignore[operator]
    if timed and time_ratio < min_time_ratio:  # type: ignore[operator]
        return None
    margin = min(ratio / min_ratio, extra / min_extra_m, time_ratio / min_time_ratio if timed else math.inf)  # type: ignore[operator]
    slower = f", {time_ratio:.2f}x its ETA" if timed else ""
    return Finding(
        kind="route_deviation",
        score=margin_score(margin),
        ts=ts,
        evidence={
            "summary": f"drove {ratio:.2f}x the {reference} distance ({extra / 1000:.2f} km more{slower})",
            "detour_ratio": round(ratio, 3),
            "gps_distance_m": round(gps_distance_m, 1),
            "reference": reference,
            "reference_distance_m": round(reference_m, 1),
            "extra_distance_m": round(extra, 1),
            "duration_s": None if duration_s is None else round(duration_s, 1),
            "reference_duration_s": reference_duration_s,
            "duration_ratio": None if time_ratio is None else round(time_ratio, 3),
            "thresholds": {"min_ratio": min_ratio, "min_extra_m": min_extra_m, "min_time_ratio": min_time_ratio},
        },
        detector=f"route.detour_{reference.replace(' ', '_')}",
        version=VERSION,
        params=params_dict(p),
    )


def learned_finding(p: RouteParams, result: dict, ts: int) -> Finding | None:
    """Trip level, no planned route: the share of the trip's cells that honest trips between the
    same origin and destination rarely use (tripguard.detectors.learned_corridors)."""
    if result["rare_fraction"] < p.learned_min_rare_fraction or result["rare_cells"] < p.learned_min_rare_cells:
        return None
    return Finding(
        kind="route_deviation",
        score=0.5 + 0.5 * result["rare_fraction"],
        ts=ts,
        evidence={
            "summary": (
                f"{result['rare_cells']} of {result['cells']} cells of the trip are rarely used by the "
                f"{result['pair_trips']} known trips between the same origin and destination"
            ),
            **result,
            "thresholds": {
                "learned_min_pair_trips": p.learned_min_pair_trips,
                "learned_rare_share": p.learned_rare_share,
                "learned_min_rare_fraction": p.learned_min_rare_fraction,
                "learned_min_rare_cells": p.learned_min_rare_cells,
            },
        },
        detector="route.learned_corridor",
        version=VERSION,
        params=params_dict(p),
    )
