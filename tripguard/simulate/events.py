"""Trip events (contract v1) and the fares on them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tripguard.fare.tariff import Tariff
from tripguard.geo import encode_polyline

CITY = "porto"
PRODUCT = "standard"
METER_STEP = 0.05  # taximeters count in 5-cent steps


def meter_round(fare: float) -> float:
    return round(round(fare / METER_STEP) * METER_STEP, 2)


def meter_round_up(fare: float) -> float:
    return round(math.ceil(fare / METER_STEP - 1e-9) * METER_STEP, 2)


def draw_surge(rng: np.random.Generator) -> float:
    """Mostly 1.0; 15 % of trips in a surge of 1.2-2.0."""
    if rng.random() < 0.85:
        return 1.0
    return round(float(rng.uniform(1.2, 2.0)), 1)


def draw_tolls(rng: np.random.Generator) -> float:
    """Mostly 0: a few trips use a tolled motorway stretch."""
    return float(rng.choice([0.55, 0.85, 1.25])) if rng.random() < 0.03 else 0.0


def trip_started(
    trip_id: str,
    driver_id: str,
    ts_ms: int,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    planned_latlon: np.ndarray | None,
    planned_distance_m: float | None,
    planned_duration_s: float | None,
    surge: float,
    quoted_fare: float | None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "trip_started",
        "trip_id": trip_id,
        "driver_id": driver_id,
        "city": CITY,
        "ts": int(ts_ms),
        "pickup": {"lat": round(float(pickup[0]), 6), "lon": round(float(pickup[1]), 6)},
        "dropoff": {"lat": round(float(dropoff[0]), 6), "lon": round(float(dropoff[1]), 6)},
    }
    if planned_latlon is not None:
        ev["planned_route"] = encode_polyline(planned_latlon)
        ev["planned_distance_m"] = round(float(planned_distance_m), 1)  # type: ignore[arg-type]
        ev["planned_duration_s"] = round(float(planned_duration_s), 1)  # type: ignore[arg-type]
    ev["surge"] = surge
    ev["product"] = PRODUCT
    if quoted_fare is not None:
        ev["quoted_fare"] = quoted_fare
    return ev


def trip_ended(
    trip_id: str,
    driver_id: str,
    ts_ms: int,
    claimed_fare: float,
    currency: str,
    claimed_distance_m: float,
    claimed_duration_s: float,
    tolls: float,
) -> dict[str, Any]:
    return {
        "type": "trip_ended",
        "trip_id": trip_id,
        "driver_id": driver_id,
        "ts": int(ts_ms),
        "claimed_fare": claimed_fare,
        "currency": currency,
        "claimed_distance_m": round(float(claimed_distance_m), 1),
        "claimed_duration_s": round(float(claimed_duration_s), 1),
        "tolls": tolls,
    }


def honest_fare(tariff: Tariff, distance_m: float, duration_s: float, surge: float, tolls: float) -> float:
    """The taximeter's fare on what was really driven."""
    return meter_round(tariff.expected_fare(distance_m, duration_s, surge, tolls))
