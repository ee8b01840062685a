"""Realistic alerts and verdicts (contract v1) for the review service tests.

Built here because the engine is written concurrently: three Porto trips with a GPS fix every
15 s (like the Porto data set), each with the alerts the detectors are specified to raise, and
the optional `planned_route` / `corridor_cells` verdict fields for the route-deviation trip.
Every record is validated with the contract models before it is returned.
"""

from __future__ import annotations

import math
from pathlib import Path

import h3
import orjson

from tripguard.contract import Alert, Verdict
from tripguard.geo import encode_polyline

T0_MS = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
STEP_MS = 15_000
M_PER_DEG_LAT = 111_195.0


def _walk(lat: float, lon: float, bearing_deg: float, step_m: float, n: int, turn_deg: float = 0.0):
    """n fixes from (lat, lon), step_m apart, turning turn_deg per step (a curving street)."""
    out = [(lat, lon)]
    b = bearing_deg
    for _ in range(n - 1):
        b += turn_deg
        lat += step_m * math.cos(math.radians(b)) / M_PER_DEG_LAT
        lon += step_m * math.sin(math.radians(b)) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
        out.append((lat, lon))
    return out


def _fix(p, ts):
    return {"ts": ts, "lat": round(p[0], 6), "lon": round(p[1], 6)}


def _detector(name, **params):
    return {"name": name, "version": "1.0.0", "params": params}


def _alert(alert_id, trip, driver, kind, severity, score, ts, evidence, detector):
    return Alert.model_validate(
        {
            "alert_id": alert_id,
            "trip_id": trip,
            "driver_id": driver,
            "city": "porto",
            "kind": kind,
            "severity": severity,
            "score": score,
            "ts": ts,
            "detected_at": ts + 1_200,
            "evidence": evidence,
            "detector": detector,
        }
    ).model_dump(mode="json")


def _verdict(trip, driver, path, kinds, alert_ids, risk, extra=None, **fields):
    t_end = T0_MS + (len(path) - 1) * STEP_MS
    dist = sum(
        math.dist(
            (a[0] * M_PER_DEG_LAT, a[1] * M_PER_DEG_LAT * 0.75), (b[0] * M_PER_DEG_LAT, b[1] * M_PER_DEG_LAT * 0.75)
        )
        for a, b in zip(path, path[1:])
    )
    v = {
        "trip_id": trip,
        "driver_id": driver,
        "city": "porto",
        "ts": t_end,
        "risk_score": risk,
        "kinds": kinds,
        "alert_ids": alert_ids,
        "gps_distance_m": round(dist, 1),
        "gps_duration_s": (len(path) - 1) * 15.0,
        "planned_distance_m": fields.get("planned_distance_m"),
        "expected_fare": fields.get("expected_fare", 8.9),
        "claimed_fare": fields.get("claimed_fare", 9.2),
        "currency": "EUR",
        "path": encode_polyline(path),
        "pings_used": len(path),
        "pings_dropped": {"late": 1, "duplicate": 2, "invalid": 0, "spike": 1, "coarse": 0},
        "ended_by": "trip_ended",
    }
    Verdict.model_validate(v)
    return {**v, **(extra or {})}


def build() -> tuple[list[dict], list[dict]]:
    """(alerts, verdicts) of four trips:
    porto-0001 teleport + impossible_speed; porto-0002 route_deviation with planned route and
    corridor; porto-0003 fare_inflation (no geometry in the evidence); porto-0004 clean."""
    alerts, verdicts = [], []

    # Trip 1: a 2.4 km jump within one 15 s step (teleport), then a stretch at 70 m/s.
    a = _walk(41.1496, -8.6109, 60, 140, 20, 2.0)
    jump = _walk(a[-1][0], a[-1][1], 100, 2_400, 2)[1]
    b = _walk(jump[0], jump[1], 80, 1_050, 4)  # 1,050 m per 15 s = 70 m/s
    c = _walk(b[-1][0], b[-1][1], 120, 130, 15, -1.5)
    path1 = a + b + c
    ts = [T0_MS + i * STEP_MS for i in range(len(path1))]
    i_jump = len(a)
    alerts.append(
        _alert(
            "tel-0001",
            "porto-0001",
            "drv-17",
            "teleport",
            "high",
            0.97,
            ts[i_jump],
            {
                "points": [_fix(path1[i_jump - 1], ts[i_jump - 1]), _fix(path1[i_jump], ts[i_jump])],
                "distance_m": 2400.0,
                "dt_s": 15.0,
                "implied_speed_mps": 160.0,
                "threshold_mps": 55.0,
                "accuracy_m": [4.0, 5.0],
            },
            _detector("teleport", max_speed_mps=55.0, min_jump_m=500.0),
        )
    )
    s0 = i_jump
    alerts.append(
        _alert(
            "spd-0001",
            "porto-0001",
            "drv-17",
            "impossible_speed",
            "medium",
            0.81,
            ts[s0 + 3],
            {
                "points": [_fix(path1[i], ts[i]) for i in range(s0, s0 + 4)],
                "speed_mps": 70.0,
                "duration_s": 45.0,
                "threshold_mps": 45.0,
                "window_fixes": 4,
            },
            _detector("impossible_speed", max_speed_mps=45.0, min_window_s=30.0),
        )
    )
    verdicts.append(
        _verdict("porto-0001", "drv-17", path1, ["teleport", "impossible_speed"], ["tel-0001", "spd-0001"], 0.97)
    )

    # Trip 2: planned route straight east; the driver detours north and comes back.
    route = _walk(41.1610, -8.6290, 90, 200, 16)
    d1 = _walk(41.1610, -8.6290, 90, 160, 8)
    d2 = _walk(d1[-1][0], d1[-1][1], 10, 160, 9)
    d3 = _walk(d2[-1][0], d2[-1][1], 100, 160, 8)
    d4 = _walk(d3[-1][0], d3[-1][1], 190, 160, 9)
    d5 = _walk(d4[-1][0], d4[-1][1], 90, 160, 6)
    path2 = d1 + d2[1:] + d3[1:] + d4[1:] + d5[1:]
    ts2 = [T0_MS + 3_600_000 + i * STEP_MS for i in range(len(path2))]
    cells = sorted({c for lat, lon in route for c in h3.grid_disk(h3.latlng_to_cell(lat, lon, 9), 1)})
    off = [i for i, p in enumerate(path2) if h3.latlng_to_cell(p[0], p[1], 9) not in set(cells)]
    alerts.append(
        _alert(
            "dev-0002",
            "porto-0002",
            "drv-42",
            "route_deviation",
            "high",
            0.88,
            ts2[off[-1]],
            {
                "points": [_fix(path2[i], ts2[i]) for i in off],
                "off_corridor_m": round(len(off) * 160.0, 1),
                "max_distance_m": 1_380.0,
                "threshold_m": 500.0,
                "corridor_res": 9,
                "corridor_k": 1,
                "extra_distance_m": 2_900.0,
            },
            _detector("route_deviation", h3_res=9, corridor_k=1, min_off_m=500.0),
        )
    )
    verdicts.append(
        _verdict(
            "porto-0002",
            "drv-42",
            path2,
            ["route_deviation"],
            ["dev-0002"],
            0.88,
            extra={"planned_route": encode_polyline(route), "corridor_cells": cells},
            planned_distance_m=3_000.0,
            expected_fare=7.4,
            claimed_fare=12.9,
        )
    )

    # Trip 3: an honest path, a claimed fare 2.6 times the metered one.
    path3 = _walk(41.1455, -8.6150, 200, 180, 30, 1.0)
    ts3 = T0_MS + 7_200_000 + (len(path3) - 1) * STEP_MS
    alerts.append(
        _alert(
            "fare-0003",
            "porto-0003",
            "drv-08",
            "fare_inflation",
            "medium",
            0.74,
            ts3,
            {
                "expected_fare": 9.4,
                "claimed_fare": 24.5,
                "ratio": 2.61,
                "currency": "EUR",
                "threshold_ratio": 1.5,
                "tariff": {"base": 3.25, "per_km": 0.47, "per_min": 0.25, "minimum": 3.25},
            },
            _detector("fare_inflation", max_ratio=1.5),
        )
    )
    verdicts.append(
        _verdict(
            "porto-0003", "drv-08", path3, ["fare_inflation"], ["fare-0003"], 0.74, expected_fare=9.4, claimed_fare=24.5
        )
    )

    # Trip 4: clean.
    path4 = _walk(41.1520, -8.6080, 300, 150, 25, 0.5)
    verdicts.append(_verdict("porto-0004", "drv-03", path4, [], [], 0.02))
    return alerts, verdicts


def write_replay_dir(directory: Path) -> Path:
    """The fixtures as a replay output directory (alerts.jsonl, verdicts.jsonl)."""
    alerts, verdicts = build()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "alerts.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    (directory / "verdicts.jsonl").write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in verdicts))
    return directory
