"""City tariffs (data/tariffs.toml, overridable with --tariffs) and the metered expected fare.

A city table holds the metered coefficients and, optionally, a `[<city>.residual]` subtable: the
city's honest spread of claimed/expected fare (written by `tripguard fit-fare` or the Porto
calibration), which turns a claimed/expected ratio into a score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from tripguard.config import load_shipped, params_from
from tripguard.errors import ConfigError


@dataclass(frozen=True)
class Residual:
    """Honest spread of ln(claimed / expected) in a city.

    center: median log ratio; scale: robust spread ((p84 - p16) / 2 of the log ratio);
    ratio_p99: 99th percentile of claimed/expected on honest trips; n: rows it was estimated on;
    source: what it was estimated from (file and command), so a reviewer can trace a score.
    """

    center: float
    scale: float
    ratio_p99: float
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


@dataclass(frozen=True)
class Tariff:
    currency: str
    base: float
    per_km: float
    per_min: float
    minimum: float
    booking_fee: float = 0.0
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


_NON_NEGATIVE = ("base", "per_km", "per_min", "minimum", "booking_fee")


def tariff_from_table(table: dict, where: str) -> Tariff:
    """One city table -> Tariff, strictly: every error names the table and the key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    table = dict(table)
    residual_table = table.pop("residual", None)
    residual = None
    if residual_table is not None:
        if not isinstance(residual_table, dict):
            raise ConfigError(f"{where}: residual must be a table ([<city>.residual])")
        residual = params_from(Residual, residual_table, f"{where}.residual")
        if not (math.isfinite(residual.scale) and residual.scale > 0.0):
            raise ConfigError(f"{where}.residual: scale must be > 0, got {residual.scale!r}")
        if not (math.isfinite(residual.ratio_p99) and residual.ratio_p99 > 0.0):
            raise ConfigError(f"{where}.residual: ratio_p99 must be > 0, got {residual.ratio_p99!r}")
        if not math.isfinite(residual.center):
            raise ConfigError(f"{where}.residual: center must be finite, got {residual.center!r}")
    tariff = params_from(Tariff, table, where)
    if len(tariff.currency) != 3 or not tariff.currency.isupper():
        raise ConfigError(f"{where}: currency must be an ISO 4217 code like EUR, got {tariff.currency!r}")
    for key in _NON_NEGATIVE:
        value = getattr(tariff, key)
        if not (math.isfinite(value) and value >= 0.0):
            raise ConfigError(f"{where}: {key} must be a finite number >= 0, got {value!r}")
    if residual is not None:
        tariff = Tariff(**{**tariff.__dict__, "residual": residual})
    return tariff


def load_tariffs(override: Path | str | None = None) -> dict[str, Tariff]:
    """Shipped tariffs, with the tables of an override file replacing or extending them."""
    tables, source = load_shipped("tariffs.toml", override)
    return {city: tariff_from_table(table, f"{source} [{city}]") for city, table in tables.items()}
