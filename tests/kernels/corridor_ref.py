"""Pure-Python twin of kernels/corridor.py: one trip at a time, shapely for the geometry.

Distances to the route and along it come from shapely's LineString (in the same local metric
frame), membership from a Python set -- independent of the kernel's binary search and segment scan.
"""

import math

import numpy as np
from shapely.geometry import LineString, Point

from tripguard.kernels import corridor as C
from tripguard.kernels.geo import local_xy_np


class ExcursionsRef:
    def __init__(
        self,
        cells,
        route_x,
        route_y,
        lat0,
        lon0,
        cos0,
        min_fixes,
        min_dist_m,
        min_extra_m,
        end_near_m,
        min_extra_s=-1e18,
        stop_s=1e18,
        ref_mps=0.0,
    ):
        self.cells = set(int(c) for c in cells)
        self.line = LineString(list(zip(route_x, route_y))) if len(route_x) > 1 else None
        self.origin = (float(route_x[0]), float(route_y[0]))
        self.frame = (lat0, lon0, cos0)
        self.min_fixes, self.min_dist_m, self.min_extra_m = min_fixes, min_dist_m, min_extra_m
        self.end = (float(route_x[-1]), float(route_y[-1]))
        self.end_near_m = end_near_m
        self.min_extra_s, self.stop_s, self.ref_mps = min_extra_s, stop_s, ref_mps
        self.on_m = self.on_s = 0.0  # driven inside the corridor: the trip's own pace
        self.was_inside = False
        self.events = []
        self.last_in = None  # (ts, x, y)
        self.exc = None  # dict while outside
        self.prev = None
        self.displaced = False  # sticky, after a teleport or an impossible-speed run

    def _dist_along(self, x, y):
        if self.line is None:
            return ((x - self.origin[0]) ** 2 + (y - self.origin[1]) ** 2) ** 0.5, 0.0
        p = Point(x, y)
        return self.line.distance(p), self.line.project(p)

    def fix(self, ts, lat, lon, flag, cell):
        x, y = local_xy_np(lat, lon, *self.frame)
        self.displaced |= flag in (C.F_TELEPORT, C.F_FAST)
        jump = flag in (C.F_BREAK, C.F_TELEPORT)
        step = dt_s = 0.0
        if self.prev is not None and not jump:
            step = ((x - self.prev[0]) ** 2 + (y - self.prev[1]) ** 2) ** 0.5
            dt_s = (ts - self.prev[2]) / 1000.0
        still_s = dt_s if step < C.STILL_STEP_M else 0.0
        inside = int(cell) in self.cells
        if inside and self.was_inside:
            self.on_m += step
            self.on_s += dt_s
        self.was_inside = inside
        if inside:
            if self.exc is not None:
                self.exc["len"] += step
                self.exc["displaced"] |= flag == C.F_TELEPORT
                self._close(ts, x, y, True)
            self.last_in = (ts, x, y)
        else:
            d, _ = self._dist_along(x, y)
            if self.exc is None:
                self.exc = dict(
                    start=ts, len=step if self.last_in else 0.0, maxd=d, n=1, displaced=flag == C.F_TELEPORT, still=0.0
                )
            else:
                self.exc["len"] += step
                self.exc["n"] += 1
                self.exc["still"] = max(self.exc["still"], still_s)
                self.exc["displaced"] |= flag == C.F_TELEPORT
                self.exc["maxd"] = max(self.exc["maxd"], d)
        self.prev = (x, y, ts)

    def finish(self, last_ts):
        if self.exc is not None:
            self._close(last_ts, self.prev[0], self.prev[1], False)

    def _close(self, ts, x, y, back):
        e = self.exc
        along_out = self._dist_along(*self.last_in[1:])[1] if self.last_in else 0.0
        along_back = self._dist_along(x, y)[1]
        planned = abs(along_back - along_out)
        extra = e["len"] - planned
        start = self.last_in[0] if self.last_in else e["start"]
        if self.ref_mps > 0.0:
            ref = self.ref_mps
        elif self.on_s >= C.OWN_PACE_MIN_S and self.on_m > 0.0:
            ref = self.on_m / self.on_s
        else:
            ref = C.DEFAULT_PACE_MPS
        extra_s = (ts - start) / 1000.0 - planned / ref
        arrived = back or ((x - self.end[0]) ** 2 + (y - self.end[1]) ** 2) ** 0.5 <= self.end_near_m
        if (
            arrived
            and not e["displaced"]
            and not self.displaced
            and e["n"] >= self.min_fixes
            and e["maxd"] >= self.min_dist_m
            and extra >= self.min_extra_m
            and extra_s >= self.min_extra_s
            and e["still"] < self.stop_s
        ):
            self.events.append(
                dict(
                    start=start,
                    end=ts,
                    len=e["len"],
                    extra=extra,
                    maxd=e["maxd"],
                    n=e["n"],
                    closed=back,
                    extra_s=extra_s,
                    still=e["still"],
                )
            )
        self.exc = None


def project_route_np(route: np.ndarray) -> tuple[float, float, float, np.ndarray, np.ndarray, np.ndarray]:
    """(lat0, lon0, cos0, x, y, cumulative length) of the route in the local metric frame, numpy."""
    lat0, lon0 = float(route[0, 0]), float(route[0, 1])
    cos0 = math.cos(math.radians(lat0))
    x, y = local_xy_np(route[:, 0], route[:, 1], lat0, lon0, cos0)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    return lat0, lon0, cos0, x, y, cum
