"""Trip geometry for reviewers: the GPS path, the planned route, the corridor cells and the
fixes an alert flagged, as GeoJSON (API) and as plain coordinate lists (the SVG map).

Evidence is kind-specific and open-ended, so flagged fixes are found generically: any object
in an alert's evidence with numeric `lat` and `lon` is a flagged fix, and a list of two or more
such objects (`points`, `fixes`, ...) is a flagged segment (a teleport's jump, a stretch at
impossible speed, the off-corridor part of a route).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import h3

from tripguard.geo import decode_polyline

MAX_EVIDENCE_DEPTH = 6
MAX_FLAGGED_POINTS = 5_000


@dataclass
class FlaggedFix:
    lat: float
    lon: float
    ts: int | None
    alert_id: str
    kind: str


@dataclass
class TripShapes:
    """(lat, lon) lists; empty when unknown."""

    gps_path: list[tuple[float, float]] = field(default_factory=list)
    planned_route: list[tuple[float, float]] = field(default_factory=list)
    corridor: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)  # (cell, ring)
    flagged_fixes: list[FlaggedFix] = field(default_factory=list)
    flagged_segments: list[tuple[str, str, list[tuple[float, float]]]] = field(
        default_factory=list
    )  # (alert_id, kind, line)


def _fix(obj: Any) -> tuple[float, float, int | None] | None:
    """(lat, lon, ts) when obj is a usable fix, else None."""
    if type(obj) is not dict:
        return None
    lat, lon = obj.get("lat"), obj.get("lon")
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not isinstance(lat, (int, float))
        or not isinstance(lon, (int, float))
    ):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    ts = obj.get("ts")
    return float(lat), float(lon), ts if type(ts) is int else None


def _walk(value: Any, depth: int, fixes: list, segments: list) -> None:
    if depth > MAX_EVIDENCE_DEPTH or len(fixes) >= MAX_FLAGGED_POINTS:
        return
    if type(value) is dict:
        f = _fix(value)
        if f is not None:
            fixes.append(f)
        for v in value.values():
            _walk(v, depth + 1, fixes, segments)
    elif type(value) is list:
        line = [f for f in (_fix(v) for v in value) if f is not None]
        if len(line) >= 2:
            segments.append([(lat, lon) for lat, lon, _ in line])
        for v in value:
            _walk(v, depth + 1, fixes, segments)


def flagged(alert: dict[str, Any]) -> tuple[list[tuple[float, float, int | None]], list[list[tuple[float, float]]]]:
    """Flagged fixes and segments of one alert's evidence."""
    fixes: list = []
    segments: list = []
    _walk(alert.get("evidence"), 0, fixes, segments)
    return fixes, segments


def _decode(polyline: str | None) -> list[tuple[float, float]]:
    if not polyline:
        return []
    try:
        return [(float(a), float(b)) for a, b in decode_polyline(polyline)]
    except ValueError:
        return []  # validated at ingest; an unreadable stored path is shown as missing, not a crash


def trip_shapes(trip: dict[str, Any]) -> TripShapes:
    """Shapes of a trip as returned by records.get_trip."""
    shapes = TripShapes()
    verdict = trip.get("verdict")
    if verdict:
        shapes.gps_path = _decode(verdict.get("path"))
    shapes.planned_route = _decode(trip.get("planned_route"))
    for cell in trip.get("corridor_cells") or []:
        try:
            ring = [(float(a), float(b)) for a, b in h3.cell_to_boundary(cell)]
        except (ValueError, TypeError, h3.H3BaseException):
            continue
        shapes.corridor.append((cell, ring))
    for alert in trip.get("alerts", []):
        fixes, segments = flagged(alert)
        aid, kind = str(alert.get("alert_id", "")), str(alert.get("kind", ""))
        shapes.flagged_fixes.extend(FlaggedFix(lat, lon, ts, aid, kind) for lat, lon, ts in fixes)
        shapes.flagged_segments.extend((aid, kind, seg) for seg in segments)
    return shapes


def _lonlat(line: list[tuple[float, float]]) -> list[list[float]]:
    return [[lon, lat] for lat, lon in line]  # GeoJSON order is [lon, lat]


def trip_geojson(shapes: TripShapes) -> dict[str, Any]:
    """A FeatureCollection (RFC 7946, WGS 84): `role` in each feature's properties says what it is:
    gps_path, planned_route, corridor_cell, flagged_segment, flagged_fix."""
    features: list[dict[str, Any]] = []
    if len(shapes.gps_path) >= 2:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "gps_path"},
                "geometry": {"type": "LineString", "coordinates": _lonlat(shapes.gps_path)},
            }
        )
    if len(shapes.planned_route) >= 2:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "planned_route"},
                "geometry": {"type": "LineString", "coordinates": _lonlat(shapes.planned_route)},
            }
        )
    for cell, ring in shapes.corridor:
        closed = _lonlat(ring) + _lonlat(ring[:1])
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "corridor_cell", "cell": cell},
                "geometry": {"type": "Polygon", "coordinates": [closed]},
            }
        )
    for aid, kind, seg in shapes.flagged_segments:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "flagged_segment", "alert_id": aid, "kind": kind},
                "geometry": {"type": "LineString", "coordinates": _lonlat(seg)},
            }
        )
    for f in shapes.flagged_fixes:
        features.append(
            {
                "type": "Feature",
                "properties": {"role": "flagged_fix", "alert_id": f.alert_id, "kind": f.kind, "ts": f.ts},
                "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            }
        )
    return {"type": "FeatureCollection", "features": features}
