"""What the driver's app claims at trip start and end: surge, quote, meter distance, fare, tolls;
and the two fraud kinds that only touch the claim (fare_inflation, distance_mismatch).

An honest meter is not exact: its odometer reads within about +-3 % of the distance driven (normal,
sd 1.2 %, clipped at 3 %), and it runs while the driver waits at the pickup (0-3 min) before the
trip's first fix. The fare is the Porto tariff on that, rounded to the meter's 0.05 EUR step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripguard.fare.tariff import load_tariffs

FARE_STEP = 0.05
METER_SD = 0.012
METER_MAX = 0.03
WAIT_S = (0.0, 180.0)
SURGE_P = 0.15  # share of trips under surge pricing
SURGES = (1.1, 1.2, 1.3, 1.5, 1.8)
TOLL_P = 0.05
TOLLS = (0.5, 2.5)
QUOTE_P = 0.30  # share of trips with a plan that carry an upfront price and charge it
FARE_INFLATION = (1.15, 1.8)
DISTANCE_MISMATCH = (1.3, 2.0)
# Kinds whose fare follows the GPS: the upfront quote would hide them, so those trips are metered.
METERED_KINDS = ("impossible_speed", "teleport", "route_deviation", "gps_spoofing")


def tariff():
    return load_tariffs()["porto"]


def to_step(eur: float) -> float:
    return round(round(eur / FARE_STEP) * FARE_STEP, 2)


@dataclass
class Terms:
    """Drawn at booking: surge, tolls, waiting at pickup, the meter's own error, an upfront quote."""

    surge: float
    tolls: float
    wait_s: float
    meter_error: float  # claimed distance / distance the meter should read
    quote: bool


def draw_terms(rng: np.random.Generator, has_plan: bool, kind: str) -> Terms:
    surge = float(rng.choice(SURGES)) if rng.random() < SURGE_P else 1.0
    tolls = to_step(rng.uniform(*TOLLS)) if rng.random() < TOLL_P else 0.0
    err = float(np.clip(rng.normal(0.0, METER_SD), -METER_MAX, METER_MAX))
    quote = has_plan and kind not in METERED_KINDS and rng.random() < QUOTE_P
    return Terms(surge, tolls, float(rng.uniform(*WAIT_S)), 1.0 + err, quote)


def meter_fare(distance_m: float, duration_s: float, surge: float, tolls: float) -> float:
    return to_step(tariff().expected_fare(distance_m, duration_s, surge, tolls))


def quoted_fare(plan_distance_m: float, plan_duration_s: float, terms: Terms) -> float:
    """An upfront price: the meter on the planned route and ETA."""
    return meter_fare(plan_distance_m, plan_duration_s, terms.surge, terms.tolls)


@dataclass
class Claim:
    claimed_distance_m: float
    claimed_fare: float
    quoted_fare: float | None
    honest_fare: float  # what an honest claim would have been (for the label detail and the tests)
    factor: float | None  # fare_inflation / distance_mismatch multiplier


def make_claim(
    rng: np.random.Generator, kind: str, terms: Terms, meter_basis_m: float, duration_s: float, plan=None
) -> Claim:
    """meter_basis_m: the distance the meter measures (the driven one; the GPS one for the kinds that
    fake the GPS). duration_s: from trip_started to trip_ended."""
    distance = meter_basis_m * terms.meter_error
    metered = meter_fare(distance, duration_s + terms.wait_s, terms.surge, terms.tolls)
    quote = quoted_fare(plan.distance_m, plan.duration_s, terms) if terms.quote and plan is not None else None
    honest = quote if quote is not None else metered
    fare, factor = honest, None
    if kind == "fare_inflation":
        factor = float(rng.uniform(*FARE_INFLATION))
        fare = to_step(honest * factor)
    elif kind == "distance_mismatch":
        factor = float(rng.uniform(*DISTANCE_MISMATCH))
        distance = meter_basis_m * factor
    return Claim(round(distance, 1), fare, quote, honest, factor)
