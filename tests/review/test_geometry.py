"""Flagged fixes from open-ended evidence, and the SVG projection."""

from __future__ import annotations

import math

from tripguard.review.geometry import FlaggedFix, TripShapes, flagged
from tripguard.review.pages.evidence_html import render_value
from tripguard.review.pages.svgmap import project


def test_flagged_finds_fixes_anywhere_in_the_evidence_and_skips_junk():
    alert = {
        "evidence": {
            "points": [{"ts": 1, "lat": 41.1, "lon": -8.6}, {"ts": 2, "lat": 41.2, "lon": -8.5}],
            "jump": {"from": {"lat": 41.0, "lon": -8.0}, "to": {"lat": 41.5, "lon": -8.1, "ts": 3}},
            "junk": [
                {"lat": True, "lon": 1.0},
                {"lat": float("nan"), "lon": 0.0},
                {"lat": 95.0, "lon": 0.0},
                {"lat": "41", "lon": "-8"},
                {"lat": 41.0},
            ],
            "distance_m": 2400.0,
        }
    }
    fixes, segments = flagged(alert)
    assert [(lat, lon) for lat, lon, _ in fixes] == [(41.1, -8.6), (41.2, -8.5), (41.0, -8.0), (41.5, -8.1)]
    assert [ts for *_, ts in fixes] == [1, 2, None, 3]
    assert segments == [[(41.1, -8.6), (41.2, -8.5)]]
    assert flagged({"evidence": {"expected_fare": 9.0}}) == ([], [])
    assert flagged({}) == ([], [])


def _xy(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_projection_fits_the_canvas_north_up_east_right_and_keeps_scale():
    # a 1 km east-west leg and a 1 km north-south leg at Porto's latitude
    lat0, lon0 = 41.15, -8.61
    dlat = 1000 / 111_195.0
    dlon = 1000 / (111_195.0 * math.cos(math.radians(lat0)))
    path = [(lat0, lon0), (lat0, lon0 + dlon), (lat0 + dlat, lon0 + dlon)]
    m = project(TripShapes(gps_path=path), width=800, height=560, pad_px=20)
    (x0, y0), (x1, y1), (x2, y2) = _xy(m.gps_path)
    assert x1 > x0 and abs(y1 - y0) < 0.2  # east is right
    assert y2 < y1 and abs(x2 - x1) < 0.2  # north is up
    assert abs((x1 - x0) - (y1 - y2)) < 1.0  # 1 km is the same length both ways
    for x, y in _xy(m.gps_path):
        assert 20 - 0.1 <= x <= 780 + 0.1 and 20 - 0.1 <= y <= 540 + 0.1
    assert max(y1 - y2, x1 - x0) > 500  # fitted: the taller extent fills the canvas height
    assert m.scale_bar_label in ("200 m", "500 m") and 0 < m.scale_bar_px < 800


def test_projection_across_the_antimeridian_stays_local():
    path = [(-16.0, 179.99), (-16.0, -179.99)]  # Fiji: 2 km apart, not around the world
    m = project(TripShapes(gps_path=path))
    (x0, _), (x1, _) = _xy(m.gps_path)
    assert x1 > x0  # still eastwards
    # fitted to ~2.1 km (a scale bar of a few hundred metres), not to 40,000 km around the world
    assert m.scale_bar_label in ("200 m", "500 m"), m.scale_bar_label


def test_projection_of_nothing_and_of_one_point():
    assert project(TripShapes()).empty
    one = project(TripShapes(flagged_fixes=[FlaggedFix(41.1, -8.6, None, "a", "teleport")]))
    assert not one.empty and len(one.fixes) == 1
    assert 0 <= one.fixes[0]["x"] <= one.width and 0 <= one.fixes[0]["y"] <= one.height


def test_evidence_html_escapes_and_tabulates():
    html = str(
        render_value(
            {
                "<script>": "<b>x</b>",
                "points": [{"ts": 1_700_000_000_000, "lat": 41.1}, {"lon": -8.6}],
                "speeds": [1.5, 2.25],
                "nested": {"deep": None},
            }
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<th>ts</th><th>lat</th><th>lon</th>" in html  # union of the points' keys as columns
    assert "2023-11-14 22:13:20 UTC" in html
    assert "1.5, 2.25" in html
