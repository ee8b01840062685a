"""Pure-Python twin of kernels/corridor.py: one trip at a time, shapely for the geometry.

Distances to the route and along it come from shapely's LineString (in the same local metric
frame), membership from a Python set -- independent of the kernel's binary search and segment scan.
"""

from shapely.geometry import LineString, Point

from . import corridor as C


class ExcursionsRef:
    def __init__(self, cells, route_x, route_y, lat0, lon0, cos0, min_fixes, min_dist_m, min_extra_m, end_near_m):
        self.cells = set(int(c) for c in cells)
        self.line = LineString(list(zip(route_x, route_y))) if len(route_x) > 1 else None
        self.origin = (float(route_x[0]), float(route_y[0]))
        self.frame = (lat0, lon0, cos0)
        self.min_fixes, self.min_dist_m, self.min_extra_m = min_fixes, min_dist_m, min_extra_m
        self.end = (float(route_x[-1]), float(route_y[-1]))
        self.end_near_m = end_near_m
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
        x, y = C.project(lat, lon, *self.frame)
        self.displaced |= flag in (C.F_BREAK, C.F_FAST)
        step = 0.0
        if self.prev is not None and flag != C.F_BREAK:
            step = ((x - self.prev[0]) ** 2 + (y - self.prev[1]) ** 2) ** 0.5
        if int(cell) in self.cells:
            if self.exc is not None:
                self.exc["len"] += step
                self.exc["displaced"] |= flag == C.F_BREAK
                self._close(ts, x, y, True)
            self.last_in = (ts, x, y)
        else:
            d, _ = self._dist_along(x, y)
            if self.exc is None:
                self.exc = dict(start=ts, len=step if self.last_in else 0.0, maxd=d, n=1,
                                displaced=flag == C.F_BREAK)
            else:
                self.exc["len"] += step
                self.exc["n"] += 1
                self.exc["displaced"] |= flag == C.F_BREAK
                self.exc["maxd"] = max(self.exc["maxd"], d)
        self.prev = (x, y)

    def finish(self, last_ts):
        if self.exc is not None:
            self._close(last_ts, self.prev[0], self.prev[1], False)

    def _close(self, ts, x, y, back):
        e = self.exc
        along_out = self._dist_along(*self.last_in[1:])[1] if self.last_in else 0.0
        along_back = self._dist_along(x, y)[1]
        extra = e["len"] - abs(along_back - along_out)
        arrived = back or ((x - self.end[0]) ** 2 + (y - self.end[1]) ** 2) ** 0.5 <= self.end_near_m
        if arrived and not e["displaced"] and not self.displaced and e["n"] >= self.min_fixes and e["maxd"] >= self.min_dist_m and extra >= self.min_extra_m:
            self.events.append(dict(start=self.last_in[0] if self.last_in else e["start"], end=ts, len=e["len"],
                                    extra=extra, maxd=e["maxd"], n=e["n"], closed=back))
        self.exc = None
