"""FareParams from data/cities.toml: shipped values load, bad values name the key."""

from __future__ import annotations

import dataclasses

import pytest

from tripguard.config.files import CityTables
from tripguard.errors import ConfigError
from tripguard.fare.params import FareParams


def test_every_city_has_fare_params():
    tables = CityTables.load()
    for city in tables.cities:
        params = tables.params(FareParams, city, "fare")
        assert params.inflation_ratio > 1.0 and params.distance_ratio > 1.0


def test_city_table_overrides_default():
    tables = CityTables.load()
    assert tables.params(FareParams, "chicago", "fare").inflation_ratio == 1.50
    default = tables.section("default", "fare")["inflation_ratio"]
    assert default != 1.50 and tables.params(FareParams, "porto", "fare").inflation_ratio == default


@pytest.mark.parametrize(
    "key, value",
    [
        ("inflation_ratio", 0.95),
        ("distance_ratio", 1.0),
        ("gap_circuity", -0.1),
        ("min_gps_coverage", 1.5),
        ("distance_log_scale", 0.0),
        ("severity_high_score", 0.0),
    ],
)
def test_out_of_range_values_name_the_key(tmp_path, key, value):
    path = tmp_path / "c.toml"
    path.write_text(f"[porto.fare]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as err:
        CityTables.load(path).params(FareParams, "porto", "fare")
    assert f"c.toml [porto.fare]: {key}: " in str(err.value)


def test_unknown_and_mistyped_keys_name_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[porto.fare]\ninflation_ratoi = 1.2\n")
    with pytest.raises(ConfigError, match="inflation_ratoi"):
        CityTables.load(path).params(FareParams, "porto", "fare")
    path.write_text('[porto.fare]\ndistance_ratio = "1.2"\n')
    with pytest.raises(ConfigError, match="distance_ratio"):
        CityTables.load(path).params(FareParams, "porto", "fare")


def test_medium_severity_may_not_exceed_high():
    good = CityTables.load().params(FareParams, "porto", "fare")
    with pytest.raises(ConfigError, match="severity_medium_score"):
        dataclasses.replace(good, severity_medium_score=0.95, severity_high_score=0.9)


def test_severity_bands(porto_params):
    assert porto_params.severity(0.99) == "high"
    assert porto_params.severity(porto_params.severity_medium_score) == "medium"
    assert porto_params.severity(0.5) == "low"
