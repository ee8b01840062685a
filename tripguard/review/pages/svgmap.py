"""Project a trip's shapes onto an SVG canvas: a local equirectangular projection fitted to
the bounding box of everything drawn. At city scale (tens of km) its distortion is far below
what a reviewer can see, and it needs no map tiles (the review page works offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tripguard.kernels.geo import local_xy_np
from tripguard.review.geometry import TripShapes


@dataclass
class SvgMap:
    width: int
    height: int
    gps_path: str = ""  # "x,y x,y ..." for <polyline points>
    planned_route: str = ""
    corridor: list[tuple[str, str]] = field(default_factory=list)  # (cell, polygon points)
    segments: list[tuple[str, str, str]] = field(default_factory=list)  # (alert_id, kind, points)
    fixes: list[dict] = field(default_factory=list)  # x, y, alert_id, kind, ts, lat, lon
    start: tuple[float, float] | None = None
    end: tuple[float, float] | None = None
    scale_bar_px: float = 0.0
    scale_bar_label: str = ""
    empty: bool = True


def _nice_length_m(target_m: float) -> float:
    """1, 2 or 5 times a power of ten, at most target_m (at least 1 m)."""
    if target_m <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(target_m))
    for step in (5, 2, 1):
        if step * power <= target_m:
            return step * power
    return power


def project(shapes: TripShapes, width: int = 800, height: int = 560, pad_px: int = 24) -> SvgMap:
    out = SvgMap(width, height)
    pts = [
        *shapes.gps_path,
        *shapes.planned_route,
        *(p for _, ring in shapes.corridor for p in ring),
        *((f.lat, f.lon) for f in shapes.flagged_fixes),
    ]
    if not pts:
        return out
    out.empty = False
    # the local frame at the middle latitude and the first point's longitude: a trip across the
    # antimeridian stays whole
    lat0 = (max(lat for lat, _ in pts) + min(lat for lat, _ in pts)) / 2.0
    lon0, cos0 = pts[0][1], math.cos(math.radians(lat0))

    def local(lat: float, lon: float) -> tuple[float, float]:
        return local_xy_np(lat, lon, lat0, lon0, cos0)

    xs, ys = zip(*(local(lat, lon) for lat, lon in pts))
    x_min, x_max, y_min, y_max = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = x_max - x_min, y_max - y_min
    inner_w, inner_h = width - 2 * pad_px, height - 2 * pad_px
    if span_x <= 0 and span_y <= 0:
        px_per_m = 1.0
    else:
        px_per_m = min(inner_w / span_x if span_x > 0 else math.inf, inner_h / span_y if span_y > 0 else math.inf)
    off_x = pad_px + (inner_w - span_x * px_per_m) / 2.0
    off_y = pad_px + (inner_h - span_y * px_per_m) / 2.0

    def xy(lat: float, lon: float) -> tuple[float, float]:
        x, y = local(lat, lon)
        # north up: SVG y grows downwards
        return round(off_x + (x - x_min) * px_per_m, 1), round(off_y + (y_max - y) * px_per_m, 1)

    def points(line: list[tuple[float, float]]) -> str:
        return " ".join("{:g},{:g}".format(*xy(lat, lon)) for lat, lon in line)

    out.gps_path = points(shapes.gps_path)
    out.planned_route = points(shapes.planned_route)
    out.corridor = [(cell, points(ring)) for cell, ring in shapes.corridor]
    out.segments = [(aid, kind, points(seg)) for aid, kind, seg in shapes.flagged_segments]
    for f in shapes.flagged_fixes:
        x, y = xy(f.lat, f.lon)
        out.fixes.append(
            {"x": x, "y": y, "alert_id": f.alert_id, "kind": f.kind, "ts": f.ts, "lat": f.lat, "lon": f.lon}
        )
    if shapes.gps_path:
        out.start = xy(*shapes.gps_path[0])
        out.end = xy(*shapes.gps_path[-1])
    bar_m = _nice_length_m(inner_w / px_per_m / 5.0)
    out.scale_bar_px = round(bar_m * px_per_m, 1)
    out.scale_bar_label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    return out
