"""Fare checks at trip end: the claimed fare against the city's tariff on the GPS path.

The simplest honest version (issue 2): fare_inflation when the claimed fare exceeds the metered
fare on the GPS distance and duration by more than a margin; distance_mismatch when the claimed
distance exceeds the GPS distance plus what tunnel gaps may hide. The fitted model replaces the
fixed margins (tripguard/fare).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tripguard.config import CityTables
from tripguard.contract import TripEnded, TripStarted
from tripguard.detectors import Finding, margin_score
from tripguard.fare.tariff import Tariff

VERSION = "0.1"
INFLATION_RATIO = 1.12
DISTANCE_RATIO = 1.2
GAP_FACTOR = 1.5  # a road through a tunnel gap is at most this much longer than the straight line


@dataclass
class FareAssessment:
    expected_fare: float | None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class FareChecker:
    city: str
    tariff: Tariff | None

    @classmethod
    def for_city(cls, cities: CityTables, tariffs: dict[str, Tariff], city: str) -> "FareChecker":
        return cls(city, tariffs.get(city))

    def currency_problem(self, ended: TripEnded) -> str | None:
        if self.tariff is not None and ended.currency != self.tariff.currency:
            return (f"trip_ended.currency {ended.currency} does not match the {self.city} tariff's "
                    f"{self.tariff.currency}: fare not assessed")
        return None

    def assess(self, started: TripStarted, ended: TripEnded, gps_distance_m: float, gps_duration_s: float,
               gap_m: float, gap_n: int) -> FareAssessment:
        if self.tariff is None:
            return FareAssessment(None)
        duration_s = ended.claimed_duration_s if ended.claimed_duration_s is not None else gps_duration_s
        expected = self.tariff.expected_fare(gps_distance_m, duration_s, started.surge, ended.tolls or 0.0)
        out = FareAssessment(expected)
        params = {"inflation_ratio": INFLATION_RATIO, "distance_ratio": DISTANCE_RATIO, "gap_factor": GAP_FACTOR}
        ratio = ended.claimed_fare / expected if expected > 0 else 0.0
        if ratio > INFLATION_RATIO:
            out.findings.append(Finding(
                "fare_inflation", margin_score(ratio / INFLATION_RATIO), ended.ts,
                {"expected_fare": round(expected, 2), "claimed_fare": ended.claimed_fare, "ratio": round(ratio, 3),
                 "currency": ended.currency, "tariff": self.tariff.__dict__, "thresholds": params},
                "fare.simple", VERSION, params))
        if ended.claimed_distance_m is not None:
            allowed = gps_distance_m + (GAP_FACTOR - 1.0) * gap_m
            dratio = ended.claimed_distance_m / allowed if allowed > 0 else 0.0
            if dratio > DISTANCE_RATIO:
                out.findings.append(Finding(
                    "distance_mismatch", margin_score(dratio / DISTANCE_RATIO), ended.ts,
                    {"claimed_distance_m": ended.claimed_distance_m, "gps_distance_m": round(gps_distance_m, 1),
                     "gap_allowance_m": round(allowed - gps_distance_m, 1), "ratio": round(dratio, 3),
                     "thresholds": params},
                    "fare.simple", VERSION, params))
        return out
