"""Per-city thresholds of the fare detectors: the `[default.fare]` / `[<city>.fare]` tables of
data/cities.toml, read with `CityTables.params(FareParams, city, "fare")`.

The values shipped for Porto are calibrated on honest and fraudulent trips built from the real
Porto trajectories (`python -m tripguard.fare.calibrate`, see docs/fare.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS, number
from tripguard.errors import ConfigError


@dataclass(frozen=True, config=PARAMS)
class FareParams:
    """No defaults here: data/cities.toml [default.fare] is the one place the values live. Each
    value is a finite number in the range its annotation gives."""

    # fare_inflation: claimed / expected must exceed this ratio ...
    inflation_ratio: Annotated[float, number(gt=1.0)]
    # ... and exceed the expected fare by at least this much money (meter rounding, short trips)
    inflation_min_excess: Annotated[float, number(ge=0.0)]
    # distance_mismatch: claimed distance / (GPS distance + gap allowance) must exceed this ...
    distance_ratio: Annotated[float, number(gt=1.0)]
    # ... by at least this many metres (GPS warm-up at pickup matters on short trips)
    distance_min_excess_m: Annotated[float, number(ge=0.0)]
    # honest spread of ln(claimed distance / GPS distance); turns the distance ratio into a score
    distance_log_scale: Annotated[float, number(gt=0.0)]
    # A GPS gap is bridged by a straight line, which under-measures the road driven under it:
    # allowance = gap_circuity * straight-line gap distance is added to the GPS distance.
    gap_circuity: Annotated[float, number(ge=0.0, le=2.0)]
    # Chords between fixes 15 s apart cut the road's corners: a meter reads this share more than
    # they do (scaled down for closer fixes); it is added to the GPS distance, like the gap allowance.
    sparse_gps_undercount: Annotated[float, number(ge=0.0, le=0.5)]
    # The meter runs while the taxi waits for the rider before the trip moves: a claimed duration
    # longer than the GPS one is credited as waiting, up to this many seconds (beyond it, the
    # GPS saw too little of the claimed time)
    waiting_allowance_s: Annotated[float, number(ge=0.0)]
    # GPS must cover at least this share of the claimed duration for the GPS-based fare check;
    # below it the GPS saw too little of the trip to accuse anyone (verdict note instead).
    min_gps_coverage: Annotated[float, number(ge=0.0, le=1.0)]
    # scores at or above these are high / medium severity; below, low
    severity_high_score: Annotated[float, number(gt=0.0, le=1.0)]
    severity_medium_score: Annotated[float, number(gt=0.0, le=1.0)]

    def __post_init__(self) -> None:
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
