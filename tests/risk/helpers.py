"""Verdicts and decisions for the driver-risk tests, valid under contract v1."""

from __future__ import annotations

import orjson

from tripguard.engine.alerts import alert_id
from tripguard.geo import encode_integers, encode_polyline
from tripguard.review.store.disputes import decision_event_id

T0 = 1_717_398_000_000
MIN = 60_000


def verdict(
    trip_id: str,
    driver: str,
    start_ms: int,
    end_ms: int,
    kinds=(),
    fare_ratio: float = 1.0,
    distance_ratio: float = 1.0,
    track: list[tuple[float, float, float]] | None = None,
    city: str = "porto",
) -> dict:
    """track: (t_s, lat, lon) fixes; default: a short straight line in Porto over the trip."""
    if track is None:
        n = max(2, (end_ms - start_ms) // 30_000)
        track = [((start_ms + i * (end_ms - start_ms) / (n - 1)) / 1000, 41.15 + 0.0005 * i, -8.61) for i in range(n)]
    gps_m = 4000.0
    return {
        "trip_id": trip_id,
        "driver_id": driver,
        "city": city,
        "ts": end_ms,
        "risk_score": 0.9 if kinds else 0.0,
        "kinds": list(kinds),
        "alert_ids": [alert_id(trip_id, k, end_ms) for k in kinds],
        "gps_distance_m": gps_m,
        "gps_duration_s": (end_ms - start_ms) / 1000,
        "planned_distance_m": gps_m,
        "expected_fare": 10.0,
        "claimed_fare": round(10.0 * fare_ratio, 2),
        "currency": "EUR",
        "path": encode_polyline([(lat, lon) for _, lat, lon in track]),
        "pings_used": len(track),
        "pings_dropped": {},
        "ended_by": "trip_ended",
        "started_ts": start_ms,
        "path_times_s": encode_integers([round(t) for t, _, _ in track]),
        "claimed_distance_m": round(gps_m * distance_ratio, 1),
    }


def decision(v: dict, outcome: str, decided_at: int, dispute_id: int = 1) -> dict:
    d = {"id": dispute_id, "trip_id": v["trip_id"], "decided_at": decided_at, "decision": outcome}
    return {
        "event_id": decision_event_id(d),
        "dispute_id": dispute_id,
        "trip_id": v["trip_id"],
        "driver_id": v["driver_id"],
        "city": v["city"],
        "decision": outcome,
        "note": "",
        "decided_at": decided_at,
        "decided_by": 1,
        "disputed_at": decided_at - MIN,
        "kinds": v["kinds"],
        "alert_ids": v["alert_ids"],
    }


def raw(obj: dict) -> bytes:
    return orjson.dumps(obj)
