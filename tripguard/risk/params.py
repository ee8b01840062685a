"""Per-city parameters of the driver-risk stage: `[default.risk]` / `[<city>.risk]` of
data/cities.toml, read with `CityTables.params(RiskParams, city, "risk")`. docs/risk.md explains
the formula they enter and how the shipped values were chosen."""

from __future__ import annotations

from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS
from tripguard.contract import ALERT_KINDS

PATTERNS = ("overlapping_trips", "two_places_at_once", "repeated_fare_inflation", "repeated_distance_inflation")
"""Findings about a driver that no single trip shows (tripguard.risk.patterns)."""


@dataclass(frozen=True, config=PARAMS)
class RiskParams:
    """No defaults here: data/cities.toml [default.risk] is the one place the values live."""

    # The score: P(the driver's fraud rate > reference_rate) under a Beta posterior whose prior
    # is prior_rate with the weight of prior_trips trips; evidence loses half its weight every
    # half_life_days.
    half_life_days: float
    prior_rate: float
    prior_trips: float
    reference_rate: float
    medium_score: float
    high_score: float
    # The chance that an undecided alert of each kind is fraud (its precision in this city); an
    # upheld decision makes its trip count as fraud (1), an overturned one as not (0).
    teleport_precision: float
    impossible_speed_precision: float
    route_deviation_precision: float
    fare_inflation_precision: float
    distance_mismatch_precision: float
    gps_spoofing_precision: float
    # overlapping_trips: two trips of the driver at the same time for at least this long
    overlap_min_s: float
    overlap_precision: float
    # two_places_at_once: during the overlap, at least apart_min_pairs pairs of fixes (one of each
    # trip, at most apart_max_dt_s apart in time) further apart than apart_min_m and than
    # apart_speed_mps could cover in the time between them
    apart_min_m: float
    apart_speed_mps: float
    apart_max_dt_s: float
    apart_min_pairs: int
    two_places_precision: float
    # repeated_*_inflation: of the driver's trips in the 30-day window (at least
    # inflation_min_trips), so many claimed at least inflation_*_ratio x what the GPS path gives
    # that an honest driver (who does on inflation_honest_share of trips) would do it with a
    # probability of at most inflation_max_p
    inflation_min_trips: int
    inflation_fare_ratio: float
    inflation_distance_ratio: float
    inflation_honest_share: float
    inflation_max_p: float
    repeated_inflation_precision: float

    def precision(self, kind: str) -> float:
        """P(fraud) of an undecided trip that shows this alert kind or pattern."""
        if kind in ALERT_KINDS:
            return getattr(self, f"{kind}_precision")
        if kind == "overlapping_trips":
            return self.overlap_precision
        if kind == "two_places_at_once":
            return self.two_places_precision
        return self.repeated_inflation_precision

    def model_params(self) -> dict:
        """What a driver_risk event names as its model's parameters (the precisions of the kinds
        its evidence shows are in the evidence)."""
        return {k: getattr(self, k) for k in SCORE_PARAMS}


SCORE_PARAMS = ("half_life_days", "prior_rate", "prior_trips", "reference_rate", "medium_score", "high_score")
