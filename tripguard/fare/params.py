"""Per-city thresholds of the fare detectors: the `[default.fare]` / `[<city>.fare]` tables of
data/cities.toml, read with `CityTables.params(FareParams, city, "fare")`.

The values shipped for Porto are calibrated on honest and fraudulent trips built from the real
Porto trajectories (`python -m tripguard.fare.calibrate`, see docs/fare.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from tripguard.errors import ConfigError


@dataclass(frozen=True)
class FareParams:
    """No defaults here: data/cities.toml [default.fare] is the one place the values live."""

    # fare_inflation: claimed / expected must exceed this ratio ...
    inflation_ratio: float
    # ... and exceed the expected fare by at least this much money (meter rounding, short trips)
    inflation_min_excess: float
    # distance_mismatch: claimed distance / (GPS distance + gap allowance) must exceed this ...
    distance_ratio: float
    # ... by at least this many metres (GPS warm-up at pickup matters on short trips)
    distance_min_excess_m: float
    # honest spread of ln(claimed distance / GPS distance); turns the distance ratio into a score
    distance_log_scale: float
    # A GPS gap is bridged by a straight line, which under-measures the road driven under it:
    # allowance = gap_circuity * straight-line gap distance is added to the GPS distance.
    gap_circuity: float
    # Chords between fixes 15 s apart cut the road's corners: a meter reads this share more than
    # they do (scaled down for closer fixes); it is added to the GPS distance, like the gap allowance.
    sparse_gps_undercount: float
    # The meter runs while the taxi waits for the rider before the trip moves: a claimed duration
    # longer than the GPS one is credited as waiting, up to this many seconds (beyond it, the
    # GPS saw too little of the claimed time)
    waiting_allowance_s: float
    # GPS must cover at least this share of the claimed duration for the GPS-based fare check;
    # below it the GPS saw too little of the trip to accuse anyone (verdict note instead).
    min_gps_coverage: float
    # scores at or above these are high / medium severity; below, low
    severity_high_score: float
    severity_medium_score: float

    def __post_init__(self) -> None:
        _RULES = {
            "inflation_ratio": lambda v: v > 1.0,
            "inflation_min_excess": lambda v: v >= 0.0,
            "distance_ratio": lambda v: v > 1.0,
            "distance_min_excess_m": lambda v: v >= 0.0,
            "distance_log_scale": lambda v: v > 0.0,
            "gap_circuity": lambda v: 0.0 <= v <= 2.0,
            "sparse_gps_undercount": lambda v: 0.0 <= v <= 0.5,
            "min_gps_coverage": lambda v: 0.0 <= v <= 1.0,
            "waiting_allowance_s": lambda v: v >= 0.0,
            "severity_high_score": lambda v: 0.0 < v <= 1.0,
            "severity_medium_score": lambda v: 0.0 < v <= 1.0,
        }
        _TEXT = {
            "inflation_ratio": "> 1.0",
            "inflation_min_excess": ">= 0",
            "distance_ratio": "> 1.0",
            "distance_min_excess_m": ">= 0",
            "distance_log_scale": "> 0",
            "gap_circuity": "in [0, 2]",
            "sparse_gps_undercount": "in [0, 0.5]",
            "min_gps_coverage": "in [0, 1]",
            "waiting_allowance_s": ">= 0",
            "severity_high_score": "in (0, 1]",
            "severity_medium_score": "in (0, 1]",
        }
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"fare.{f.name} must be a finite number, got {value!r}")
            if not _RULES[f.name](value):
                raise ConfigError(f"fare.{f.name} must be {_TEXT[f.name]}, got {value!r}")
        if self.severity_medium_score > self.severity_high_score:
            raise ConfigError(
                f"fare.severity_medium_score ({self.severity_medium_score}) must not exceed "
                f"fare.severity_high_score ({self.severity_high_score})"
            )

    def severity(self, score: float) -> str:
        if score >= self.severity_high_score:
            return "high"
        if score >= self.severity_medium_score:
            return "medium"
        return "low"

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
