"""City tariffs (data/tariffs.toml, overridable with --tariffs) and the metered expected fare.

A city table holds the metered coefficients and, optionally, a `[<city>.residual]` subtable: the
city's honest spread of claimed/expected fare (written by `tripguard fit-fare` or the Porto
calibration), which turns a claimed/expected ratio into a score.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS, load_shipped, number, validated
from tripguard.errors import ConfigError

Finite = Annotated[float, number()]
Positive = Annotated[float, number(gt=0.0)]
NonNegative = Annotated[float, number(ge=0.0)]


@dataclass(frozen=True, config=PARAMS)
class Residual:
    """Honest spread of ln(claimed / expected) in a city.

    center: median log ratio; scale: robust spread ((p84 - p16) / 2 of the log ratio);
    ratio_p99: 99th percentile of claimed/expected on honest trips; n: rows it was estimated on;
    source: what it was estimated from (file and command), so a reviewer can trace a score.
    """

    center: Finite
    scale: Positive
    ratio_p99: Positive
    n: int
    source: str = ""

    def score(self, ratio: float) -> float:
        """0..1: 0.5 at the honest 99th percentile, rising as the ratio leaves the honest spread.

        A logistic in log space with the honest spread as its width: a claim one honest spread
        beyond the p99 scores 0.73, three spreads beyond scores 0.95.
        """
        if ratio <= 0.0:
            return 0.0
        z = (math.log(ratio) - math.log(self.ratio_p99)) / self.scale
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True, config=PARAMS)
class Tariff:
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="an ISO 4217 code like EUR")]
    base: NonNegative
    per_km: NonNegative
    per_min: NonNegative
    minimum: NonNegative
    booking_fee: NonNegative = 0.0
    residual: Residual | None = None

    def expected_fare(self, distance_m: float, duration_s: float, surge: float = 1.0, tolls: float = 0.0) -> float:
        """Metered fare: (base + per_km * km + per_min * min) * surge, at least the minimum,
        plus the booking fee and tolls, which surge does not multiply."""
        metered = (self.base + self.per_km * distance_m / 1000.0 + self.per_min * duration_s / 60.0) * surge
        return max(metered, self.minimum) + self.booking_fee + tolls

    def coefficients(self) -> dict[str, float | str]:
        """The tariff as it is written in tariffs.toml (without the residual subtable)."""
        return {
            "currency": self.currency,
            "base": self.base,
            "per_km": self.per_km,
            "per_min": self.per_min,
            "minimum": self.minimum,
            "booking_fee": self.booking_fee,
        }


def tariff_from_table(table: dict, where: str) -> Tariff:
    """One city table -> Tariff, strictly: every error names the table and the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    table = dict(table)
    residual = table.pop("residual", None)
    if residual is not None:
        if not isinstance(residual, dict):
            raise ConfigError(f"{where}: residual must be a table ([<city>.residual])")
        table["residual"] = validated(Residual, residual, f"{where}.residual")
    return validated(Tariff, table, where)


def load_tariffs(override: Path | str | None = None) -> dict[str, Tariff]:
    """Shipped tariffs, with the tables of an override file replacing or extending them."""
    tables, source = load_shipped("tariffs.toml", override)
    return {city: tariff_from_table(table, f"{source} [{city}]") for city, table in tables.items()}
