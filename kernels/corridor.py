"""Route-deviation kernel: excursions of accepted fixes out of a trip's H3 corridor.

A trip with a planned route has a corridor: the sorted H3 cells its route passes through,
dilated by a ring. The accepted fixes (spikes already removed by the kinematics kernel) are
walked in order; an excursion is a contiguous run of fixes whose cell is not in the corridor.
When it ends -- a fix back inside, or the trip's end -- it is measured:

- length: the driven path from the last fix inside to the first fix back inside;
- farthest: the largest distance of its fixes from the route polyline;
- extra: length minus the planned route's length between where it left and where it rejoined;
- extra time: its duration minus the time the planned section takes at the reference pace (the
  app's ETA pace when the trip has one, else the trip's own pace inside the corridor): an honest
  alternative route that is longer but not slower (a ring road instead of the centre) adds
  distance, not time;
- the longest standstill in it: a stop of minutes off the route is a stop the rider asked for,
  not a detour that pads the fare.

An excursion still open when the trip ends counts only if the trip ended near the route's end
(a detour on the way to the destination); a trip that ended somewhere else is left to the
trip-level detour ratio.

Route geometry is projected once per trip to a local equirectangular frame (metres) around the
route's first point; trips span tens of km, where that frame's error stays under 0.5 %.
Once the trace is displaced -- a teleport (the kinematics flag F_TELEPORT) or an impossible-speed
run (F_FAST) -- its position no longer says where the car is relative to the route: the
kinematics alerts explain it, and no excursion from there on is reported as a detour. A jump that
accused nobody (F_BREAK: GPS re-acquisition, the new place is the true one) only breaks the path.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._jit import njit, njit_exact
from ._types import F64, I8, I32, I64, U64
from .geo import haversine_m, local_xy
from .h3index import _latlng_deg_to_cell_step, new_trajectory_state

F_BREAK = 1  # kinematics.F_BREAK: a jump (GPS re-acquisition) precedes the fix
F_FAST = 4  # kinematics.F_FAST: the fix belongs to an impossible-speed run
F_TELEPORT = 8  # kinematics.F_TELEPORT: a teleport precedes the fix

# per-trip state: state[slot, R_*]
R_ACTIVE = 0
R_LAT0 = 1
R_LON0 = 2
R_COS0 = 3
R_IN_EXC = 4
R_HAS_IN = 5  # a fix inside the corridor has been seen
R_IN_TS = 6  # last fix inside
R_IN_X = 7
R_IN_Y = 8
R_EXC_START_TS = 9  # first fix outside
R_EXC_LEN_M = 10
R_EXC_MAXD_M = 11
R_EXC_MAXD_TS = 12
R_EXC_N = 13
R_EXC_DISPLACED = 14
R_HAS_PREV = 15
R_PREV_X = 16
R_PREV_Y = 17
R_N_FIXES = 18
R_N_OFF = 19
R_MAX_DIST_M = 20
R_N_EXC = 21
R_DISPLACED = 22  # sticky: the trace was displaced (teleport or impossible-speed run)
R_ROUTE_M = 23  # the route's length in the local frame
R_LAST_INSIDE = 24  # whether the trip's last cell (last_cell[slot]) is in its corridor
R_REF_MPS = 25  # the planned route's pace (planned distance / ETA); 0 = no ETA: the trip's own is used
R_PREV_TS = 26  # the previous accepted fix
R_ON_M = 27  # driven inside the corridor (both ends of a step inside): the trip's own on-route pace
R_ON_S = 28
R_EXC_STILL_S = 29  # longest standstill within the current excursion
N_ROUTE_STATE = 30

# parameters: params[city, Q_*]
Q_MIN_FIXES = 0
Q_MIN_DIST_M = 1
Q_MIN_EXTRA_M = 2
Q_END_NEAR_M = 3  # an excursion still open at trip end counts only if the trip ended this near the route's end
Q_MIN_EXTRA_S = 4  # an excursion takes at least this much longer than the planned section at the reference pace
Q_STOP_S = 5  # a standstill this long within an excursion is a stop, not a detour
N_ROUTE_PARAMS = 6
STILL_STEP_M = 100.0  # a step this short after a long gap between accepted fixes is a standstill
OWN_PACE_MIN_S = 60.0  # the trip's own on-route pace is used once it rests on this much driving
DEFAULT_PACE_MPS = 8.0  # neither an ETA nor enough driving on the route yet: a city pace

# events: events[e, X_*]
X_SLOT = 0
X_START_TS = 1  # last fix inside before the excursion (its start)
X_FIRST_OFF_TS = 2
X_END_TS = 3  # first fix back inside, or the last fix when the trip ended outside
X_LEN_M = 4
X_EXTRA_M = 5
X_MAXD_M = 6
X_MAXD_TS = 7
X_N_FIXES = 8
X_CLOSED = 9  # 1 back inside, 0 ended outside
X_PLANNED_M = 10
X_DURATION_S = 11
X_EXTRA_S = 12
X_REF_MPS = 13
X_STILL_S = 14
N_EXC_EVENT = 15


class CorridorArena(Protocol):
    """What excursions() and finish() read of a corridor arena (tripguard.detectors.route.Corridors)."""

    @property
    def cells(self) -> I64: ...
    @property
    def cell_lo(self) -> I32: ...
    @property
    def cell_hi(self) -> I32: ...
    @property
    def route_x(self) -> F64: ...
    @property
    def route_y(self) -> F64: ...
    @property
    def route_cum(self) -> F64: ...
    @property
    def route_lo(self) -> I32: ...
    @property
    def route_hi(self) -> I32: ...


def new_route_state(n_slots: int) -> F64:
    return np.zeros((n_slots, N_ROUTE_STATE), dtype=np.float64)  # a row per trip, like the kinematics state


@njit_exact  # numpy's operations in numpy's order: the same frame as the numpy projection it replaced
def _project_route(route: F64, lat0: float, lon0: float, cos0: float, out: F64) -> None:
    for i in range(route.shape[0]):
        out[0, i], out[1, i] = local_xy(route[i, 0], route[i, 1], lat0, lon0, cos0)
    out[2, 0] = 0.0
    for i in range(1, route.shape[0]):
        out[2, i] = out[2, i - 1] + math.hypot(out[0, i] - out[0, i - 1], out[1, i] - out[1, i - 1])


def project_route(route: F64) -> tuple[float, float, float, F64, F64, F64]:
    """(lat0, lon0, cos0, x, y, cumulative length) of the (n, 2) (lat, lon) route in the local
    metric frame around its first point (what excursions() measures against)."""
    if route.ndim != 2 or route.shape[1] != 2 or route.shape[0] == 0:
        raise ValueError("route must be a non-empty (n, 2) array of (lat, lon)")
    lat0, lon0 = float(route[0, 0]), float(route[0, 1])
    cos0 = math.cos(math.radians(lat0))
    out = np.empty((3, route.shape[0]), np.float64)
    _project_route(np.asarray(route, np.float64), lat0, lon0, cos0, out)
    return lat0, lon0, cos0, out[0], out[1], out[2]


@njit
def nearest_on_route(px: float, py: float, rx: F64, ry: F64, rcum: F64) -> tuple[float, float]:
    """(distance to the polyline, distance along it of the nearest point), metres."""
    best_d2 = np.inf
    best_along = 0.0
    n = rx.shape[0]
    if n == 1:
        return math.sqrt((px - rx[0]) ** 2 + (py - ry[0]) ** 2), 0.0
    for k in range(n - 1):
        ax, ay = rx[k], ry[k]
        bx, by = rx[k + 1], ry[k + 1]
        vx, vy = bx - ax, by - ay
        seg2 = vx * vx + vy * vy
        t = 0.0
        if seg2 > 0.0:
            t = ((px - ax) * vx + (py - ay) * vy) / seg2
            if t < 0.0:
                t = 0.0
            elif t > 1.0:
                t = 1.0
        qx, qy = ax + t * vx, ay + t * vy
        d2 = (px - qx) ** 2 + (py - qy) ** 2
        if d2 < best_d2:
            best_d2 = d2
            best_along = rcum[k] + t * (rcum[k + 1] - rcum[k])
    return math.sqrt(best_d2), best_along


@njit
def _contains(cells: I64, lo: int, hi: int, cell: int) -> bool:
    """Binary search of cell in the sorted slice cells[lo:hi]."""
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if cells[mid] < cell:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and cells[lo] == cell


@njit
def _reference_pace(st: F64, s: int) -> float:
    if st[s, R_REF_MPS] > 0.0:
        return st[s, R_REF_MPS]  # type: ignore[no-any-return]
    if st[s, R_ON_S] >= OWN_PACE_MIN_S and st[s, R_ON_M] > 0.0:
        return st[s, R_ON_M] / st[s, R_ON_S]  # type: ignore[no-any-return]
    return DEFAULT_PACE_MPS


@njit
def _close(
    s: int,
    st: F64,
    p: F64,
    end_ts: float,
    end_x: float,
    end_y: float,
    closed: float,
    rx: F64,
    ry: F64,
    rcum: F64,
    events: F64,
    n_ev: int,
) -> int:
    """Measure the excursion of slot s and record it when it passes the thresholds."""
    if st[s, R_HAS_IN] > 0.0:
        _, along_out = nearest_on_route(st[s, R_IN_X], st[s, R_IN_Y], rx, ry, rcum)
    else:
        along_out = 0.0  # the trip started outside: measure from the route's start
    _, along_back = nearest_on_route(end_x, end_y, rx, ry, rcum)
    planned = abs(along_back - along_out)
    extra = st[s, R_EXC_LEN_M] - planned
    start_ts = st[s, R_IN_TS] if st[s, R_HAS_IN] > 0.0 else st[s, R_EXC_START_TS]
    duration_s = (end_ts - start_ts) / 1000.0
    ref = _reference_pace(st, s)
    extra_s = duration_s - planned / ref
    # a trip that ended off its route somewhere else went elsewhere (or its last fixes were
    # faulty): that is not a detour on the way to the destination
    arrived = closed > 0.0 or math.sqrt((end_x - rx[-1]) ** 2 + (end_y - ry[-1]) ** 2) <= p[Q_END_NEAR_M]
    if (
        arrived
        and st[s, R_EXC_DISPLACED] == 0.0
        and st[s, R_DISPLACED] == 0.0
        and st[s, R_EXC_N] >= p[Q_MIN_FIXES]
        and st[s, R_EXC_MAXD_M] >= p[Q_MIN_DIST_M]
        and extra >= p[Q_MIN_EXTRA_M]
        and extra_s >= p[Q_MIN_EXTRA_S]
        and st[s, R_EXC_STILL_S] < p[Q_STOP_S]
    ):
        events[n_ev, X_SLOT] = s
        events[n_ev, X_START_TS] = start_ts
        events[n_ev, X_FIRST_OFF_TS] = st[s, R_EXC_START_TS]
        events[n_ev, X_END_TS] = end_ts
        events[n_ev, X_LEN_M] = st[s, R_EXC_LEN_M]
        events[n_ev, X_EXTRA_M] = extra
        events[n_ev, X_MAXD_M] = st[s, R_EXC_MAXD_M]
        events[n_ev, X_MAXD_TS] = st[s, R_EXC_MAXD_TS]
        events[n_ev, X_N_FIXES] = st[s, R_EXC_N]
        events[n_ev, X_CLOSED] = closed
        events[n_ev, X_PLANNED_M] = planned
        events[n_ev, X_DURATION_S] = duration_s
        events[n_ev, X_EXTRA_S] = extra_s
        events[n_ev, X_REF_MPS] = ref
        events[n_ev, X_STILL_S] = st[s, R_EXC_STILL_S]
        n_ev += 1
    st[s, R_IN_EXC] = 0.0
    st[s, R_N_EXC] += 1.0
    return n_ev


@njit
def _excursions(
    slot: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    flag: I8,
    cell: I64,
    st: F64,
    last_cell: I64,
    city: I64,
    params: F64,
    cells: I64,
    cell_lo: I32,
    cell_hi: I32,
    route_x: F64,
    route_y: F64,
    route_cum: F64,
    route_lo: I32,
    route_hi: I32,
    events: F64,
) -> int:
    n_ev = 0
    prev_s = -1
    p = params[0]
    rx = route_x[:0]
    ry = route_y[:0]
    rc = route_cum[:0]
    for i in range(slot.shape[0]):
        s = slot[i]
        if st[s, R_ACTIVE] == 0.0:
            continue
        if s != prev_s:  # fixes come grouped by trip: look its route up once per group
            p = params[city[s]]
            rx = route_x[route_lo[s] : route_hi[s]]
            ry = route_y[route_lo[s] : route_hi[s]]
            rc = route_cum[route_lo[s] : route_hi[s]]
            prev_s = s
        x, y = local_xy(lat[i], lon[i], st[s, R_LAT0], st[s, R_LON0], st[s, R_COS0])
        jump = flag[i] == F_BREAK or flag[i] == F_TELEPORT
        if flag[i] == F_TELEPORT or flag[i] == F_FAST:
            st[s, R_DISPLACED] = 1.0
        step = 0.0
        dt_s = 0.0
        if st[s, R_HAS_PREV] > 0.0 and not jump:
            step = math.sqrt((x - st[s, R_PREV_X]) ** 2 + (y - st[s, R_PREV_Y]) ** 2)
            dt_s = (ts[i] - st[s, R_PREV_TS]) / 1000.0
        # a parked car's fixes are not in the accepted stream (only its anchor's time moves): a
        # standstill shows as a long gap to a short step
        still_s = dt_s if step < STILL_STEP_M else 0.0
        was_inside = st[s, R_LAST_INSIDE] > 0.0 and st[s, R_N_FIXES] > 0.0
        st[s, R_N_FIXES] += 1.0
        # consecutive fixes mostly share a cell: the arena is searched only when the cell changes
        if st[s, R_N_FIXES] > 1.0 and cell[i] == last_cell[s]:
            inside = st[s, R_LAST_INSIDE] > 0.0
        else:
            inside = _contains(cells, cell_lo[s], cell_hi[s], cell[i])
            last_cell[s] = cell[i]
            st[s, R_LAST_INSIDE] = 1.0 if inside else 0.0
        if inside and was_inside:
            st[s, R_ON_M] += step
            st[s, R_ON_S] += dt_s
        if inside:
            if st[s, R_IN_EXC] > 0.0:
                st[s, R_EXC_LEN_M] += step
                if flag[i] == F_TELEPORT:
                    st[s, R_EXC_DISPLACED] = 1.0
                n_ev = _close(s, st, p, ts[i], x, y, 1.0, rx, ry, rc, events, n_ev)
            st[s, R_HAS_IN] = 1.0
            st[s, R_IN_TS] = ts[i]
            st[s, R_IN_X] = x
            st[s, R_IN_Y] = y
        else:
            d, _ = nearest_on_route(x, y, rx, ry, rc)
            st[s, R_N_OFF] += 1.0
            if d > st[s, R_MAX_DIST_M]:
                st[s, R_MAX_DIST_M] = d
            if st[s, R_IN_EXC] == 0.0:
                st[s, R_IN_EXC] = 1.0
                st[s, R_EXC_START_TS] = ts[i]
                st[s, R_EXC_LEN_M] = step if st[s, R_HAS_IN] > 0.0 else 0.0
                st[s, R_EXC_MAXD_M] = d
                st[s, R_EXC_MAXD_TS] = ts[i]
                st[s, R_EXC_N] = 1.0
                st[s, R_EXC_DISPLACED] = 1.0 if flag[i] == F_TELEPORT else 0.0
                st[s, R_EXC_STILL_S] = 0.0
            else:
                st[s, R_EXC_LEN_M] += step
                st[s, R_EXC_N] += 1.0
                if still_s > st[s, R_EXC_STILL_S]:
                    st[s, R_EXC_STILL_S] = still_s
                if flag[i] == F_TELEPORT:
                    st[s, R_EXC_DISPLACED] = 1.0
                if d > st[s, R_EXC_MAXD_M]:
                    st[s, R_EXC_MAXD_M] = d
                    st[s, R_EXC_MAXD_TS] = ts[i]
        st[s, R_HAS_PREV] = 1.0
        st[s, R_PREV_X] = x
        st[s, R_PREV_Y] = y
        st[s, R_PREV_TS] = ts[i]
    return n_ev


@njit
def _finish(
    slots: I64,
    last_ts: I64,
    st: F64,
    city: I64,
    params: F64,
    route_x: F64,
    route_y: F64,
    route_cum: F64,
    route_lo: I32,
    route_hi: I32,
    events: F64,
) -> int:
    n_ev = 0
    for k in range(slots.shape[0]):
        s = slots[k]
        if st[s, R_ACTIVE] == 0.0 or st[s, R_IN_EXC] == 0.0:
            continue
        rx = route_x[route_lo[s] : route_hi[s]]
        ry = route_y[route_lo[s] : route_hi[s]]
        rc = route_cum[route_lo[s] : route_hi[s]]
        n_ev = _close(
            s, st, params[city[s]], last_ts[k], st[s, R_PREV_X], st[s, R_PREV_Y], 0.0, rx, ry, rc, events, n_ev
        )
    return n_ev


def _need(name: str, arr: Any, dtype: DTypeLike, ndim: int = 1) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != ndim:
        raise TypeError(f"{name} must be a {ndim}-D {np.dtype(dtype).name} numpy array")
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        raise ValueError(f"{name} must be contiguous: use np.ascontiguousarray({name})")


def excursions(
    slot: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    flag: I8,
    cell: I64,
    state: F64,
    last_cell: I64,
    city: I64,
    params: F64,
    corridor: CorridorArena,
) -> F64:
    """Walk accepted fixes (grouped by slot, in order) against their trips' corridors.

    corridor: a Corridors arena (cells sorted within each trip's [lo, hi) slice, route points
    projected). state is updated in place. Returns the excursion events (N_EXC_EVENT columns)."""
    n = slot.shape[0] if isinstance(slot, np.ndarray) else -1
    _need("slot", slot, np.int64)
    _need("ts", ts, np.int64)
    _need("lat", lat, np.float64)
    _need("lon", lon, np.float64)
    _need("flag", flag, np.int8)
    _need("cell", cell, np.int64)
    for name, arr in (("ts", ts), ("lat", lat), ("lon", lon), ("flag", flag), ("cell", cell)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} must have the length of slot ({n})")
    _need("state", state, np.float64, 2)
    _need("last_cell", last_cell, np.int64)
    _need("params", params, np.float64, 2)
    if params.shape[1] != N_ROUTE_PARAMS:
        raise ValueError(f"params must have {N_ROUTE_PARAMS} columns (Q_*)")
    events = np.empty((max(n, 1), N_EXC_EVENT), np.float64)
    n_ev = _excursions(
        slot,
        ts,
        lat,
        lon,
        flag,
        cell,
        state,
        last_cell,
        city,
        params,
        corridor.cells,
        corridor.cell_lo,
        corridor.cell_hi,
        corridor.route_x,
        corridor.route_y,
        corridor.route_cum,
        corridor.route_lo,
        corridor.route_hi,
        events,
    )
    return events[:n_ev]


def finish(slots: I64, last_ts: I64, state: F64, city: I64, params: F64, corridor: CorridorArena) -> F64:
    """Trip end: an excursion still open is measured up to the last fix."""
    _need("slots", slots, np.int64)
    _need("last_ts", last_ts, np.int64)
    events = np.empty((max(slots.shape[0], 1), N_EXC_EVENT), np.float64)
    n_ev = _finish(
        slots,
        last_ts,
        state,
        city,
        params,
        corridor.route_x,
        corridor.route_y,
        corridor.route_cum,
        corridor.route_lo,
        corridor.route_hi,
        events,
    )
    return events[:n_ev]


@njit_exact
def _route_cells(lat: F64, lon: F64, spacing_m: float, res: int, out: U64, states: NDArray[np.void]) -> int:
    """Densify the (lat, lon) polyline to spacing_m and index it, dropping consecutive repeats."""
    st = states[0]
    k = 0
    last = np.uint64(0)
    n = lat.shape[0]
    for i in range(n):
        parts = 1
        dlon = 0.0
        if i + 1 < n:
            seg = haversine_m(lat[i], lon[i], lat[i + 1], lon[i + 1])
            parts = max(1, int(math.ceil(seg / spacing_m)))
            dlon = lon[i + 1] - lon[i]
            if dlon > 180.0:  # the short way across the antimeridian
                dlon -= 360.0
            elif dlon < -180.0:
                dlon += 360.0
        for j in range(parts if i + 1 < n else 1):
            t = j / parts
            la = lat[i] + t * (lat[i + 1] - lat[i]) if i + 1 < n else lat[i]
            lo = lon[i] + t * dlon
            if lo > 180.0:
                lo -= 360.0
            elif lo < -180.0:
                lo += 360.0
            c = _latlng_deg_to_cell_step(la, lo, res, st)
            if k == 0 or c != last:
                if k == out.shape[0]:
                    return -1  # out is too small: the caller retries with more room
                out[k] = c
                k += 1
                last = c
    return k


def route_cells(lat: ArrayLike, lon: ArrayLike, spacing_m: float, res: int) -> U64:
    """The H3 cells (uint64) of a route densified to spacing_m, in route order, consecutive repeats
    dropped: no gaps between consecutive cells when spacing_m is below a cell's inner radius."""
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    lon_a = np.ascontiguousarray(lon, dtype=np.float64)
    if lat_a.shape != lon_a.shape or lat_a.ndim != 1 or lat_a.size == 0:
        raise ValueError("lat and lon must be non-empty 1-D arrays of the same length")
    if not spacing_m > 0:
        raise ValueError("spacing_m must be positive")
    size = 4 * lat_a.size + 64
    while True:
        out = np.empty(size, np.uint64)
        k = _route_cells(lat_a, lon_a, float(spacing_m), int(res), out, new_trajectory_state())
        if k >= 0:
            return out[:k]
        size *= 4


@njit
def _compact(
    slots: I64,
    cell_lo: I32,
    cell_hi: I32,
    cells: I64,
    new_cells: I64,
    route_lo: I32,
    route_hi: I32,
    x: F64,
    y: F64,
    cum: F64,
    new_x: F64,
    new_y: F64,
    new_cum: F64,
) -> tuple[int, int]:
    kc = 0
    kp = 0
    for j in range(slots.shape[0]):
        s = slots[j]
        a, b = cell_lo[s], cell_hi[s]
        cell_lo[s] = kc
        for g in range(a, b):
            new_cells[kc] = cells[g]
            kc += 1
        cell_hi[s] = kc
        a, b = route_lo[s], route_hi[s]
        route_lo[s] = kp
        for g in range(a, b):
            new_x[kp] = x[g]
            new_y[kp] = y[g]
            new_cum[kp] = cum[g]
            kp += 1
        route_hi[s] = kp
    return kc, kp


def compact(
    slots: I64,
    cell_lo: I32,
    cell_hi: I32,
    cells: I64,
    route_lo: I32,
    route_hi: I32,
    x: F64,
    y: F64,
    cum: F64,
    cell_capacity: int,
    point_capacity: int,
) -> tuple[I64, F64, F64, F64, int, int]:
    """The given (live) slots' corridors -- cells[cell_lo:cell_hi] and their route points --
    copied to the front of fresh arrays of the given capacities, in slot order; the spans are
    updated in place. Returns (cells, x, y, cum, cells used, points used)."""
    _need("slots", slots, np.int64)
    new_cells = np.empty(cell_capacity, np.int64)
    new_x, new_y, new_cum = (np.empty(point_capacity, np.float64) for _ in range(3))
    kc, kp = _compact(slots, cell_lo, cell_hi, cells, new_cells, route_lo, route_hi, x, y, cum, new_x, new_y, new_cum)
    return new_cells, new_x, new_y, new_cum, kc, kp
