"""City tariffs (data/tariffs.toml, overridable with --tariffs) and the metered expected fare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tripguard.config import load_toml, merge_tables, params_from, shipped_path
from tripguard.errors import ConfigError


@dataclass(frozen=True)
class Tariff:
    currency: str
    base: float
    per_km: float
    per_min: float
    minimum: float
    booking_fee: float = 0.0

    def expected_fare(self, distance_m: float, duration_s: float, surge: float = 1.0, tolls: float = 0.0) -> float:
        """Metered fare: (base + per_km * km + per_min * min) * surge, at least the minimum,
        plus the booking fee and tolls, which surge does not multiply."""
        metered = (self.base + self.per_km * distance_m / 1000.0 + self.per_min * duration_s / 60.0) * surge
        return max(metered, self.minimum) + self.booking_fee + tolls


def load_tariffs(override: Path | str | None = None) -> dict[str, Tariff]:
    """Shipped tariffs, with the tables of an override file replacing or extending them."""
    path = shipped_path("tariffs.toml")
    tables = load_toml(path)
    source = str(path)
    if override is not None:
        tables = merge_tables(tables, load_toml(override))
        source = f"{path} + {override}"
    tariffs = {}
    for city, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {city} must be a table")
        tariff = params_from(Tariff, table, f"{source} [{city}]")
        if len(tariff.currency) != 3 or not tariff.currency.isupper():
            raise ConfigError(f"{source} [{city}]: currency must be an ISO 4217 code like EUR, got {tariff.currency!r}")
        tariffs[city] = tariff
    return tariffs
