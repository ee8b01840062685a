"""fare_inflation and distance_mismatch at trip end: the engine's side of tripguard/fare/assess.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tripguard.config.files import CityTables
from tripguard.contract import TripEnded
from tripguard.detectors import Finding
from tripguard.errors import CurrencyMismatch
from tripguard.fare.assess import FareAssessment, assess_fare
from tripguard.fare.params import FareParams
from tripguard.fare.tariff import Tariff

if TYPE_CHECKING:
    from tripguard.engine.terms import EndTerms, StartTerms


@dataclass
class FareChecker:
    """A city's tariff and thresholds. Cities without a tariff are not fare-checked."""

    city: str
    tariff: Tariff | None
    params: FareParams

    @classmethod
    def for_city(cls, cities: CityTables, tariffs: dict[str, Tariff], city: str) -> FareChecker:
        return cls(city, tariffs.get(city), cities.params(FareParams, city, "fare"))

    def currency_problem(self, ended: TripEnded) -> str | None:
        """Why trip_ended cannot be assessed here, or None. A currency mismatch is an error with
        a reason, never a guessed exchange rate."""
        if self.tariff is not None and ended.currency != self.tariff.currency:
            return str(
                CurrencyMismatch(
                    f"trip_ended.currency: {ended.currency} does not match the {self.city} tariff's "
                    f"{self.tariff.currency}; the fare was not assessed"
                )
            )
        return None

    def assess(
        self,
        started: StartTerms,
        ended: EndTerms,
        gps_distance_m: float,
        gps_duration_s: float,
        gap_m: float,
        gap_n: int,
        gap_s: float,
        fix_interval_s: float = 0.0,
        late_fixes: int = 0,
        used_fixes: int = 0,
    ) -> tuple[FareAssessment | None, list[Finding]]:
        if self.tariff is None:
            return None, []
        assessment = assess_fare(
            city=self.city,
            tariff=self.tariff,
            params=self.params,
            gps_distance_m=gps_distance_m,
            gps_duration_s=gps_duration_s,
            gap_distance_m=min(gap_m, gps_distance_m),
            gap_count=gap_n,
            gap_duration_s=min(gap_s, gps_duration_s),
            planned_distance_m=started.planned_distance_m,
            planned_duration_s=started.planned_duration_s,
            surge=started.surge,
            tolls=ended.tolls,
            quoted_fare=started.quoted_fare,
            claimed_fare=ended.claimed_fare,
            currency=ended.currency,
            claimed_distance_m=ended.claimed_distance_m,
            claimed_duration_s=ended.claimed_duration_s,
            fix_interval_s=fix_interval_s,
            late_fixes=late_fixes,
            used_fixes=used_fixes,
            ended_ts=ended.ts,
        )
        return assessment, assessment.findings
