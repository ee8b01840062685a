"""Expected-fare arithmetic and strict tariff loading."""

from __future__ import annotations

import math

import pytest

from tripguard.errors import ConfigError
from tripguard.fare.tariff import Residual, Tariff, load_tariffs

T = Tariff(currency="EUR", base=3.0, per_km=0.5, per_min=0.2, minimum=5.0, booking_fee=1.0)


def test_metered_fare_is_base_plus_distance_plus_time():
    # 10 km, 20 min: 3 + 5 + 4 = 12, plus booking fee 1
    assert T.expected_fare(10_000.0, 1200.0) == pytest.approx(13.0)


def test_minimum_applies_to_the_metered_part_only():
    # 1 km, 1 min: 3 + 0.5 + 0.2 = 3.7 < minimum 5; booking fee and tolls come on top
    assert T.expected_fare(1000.0, 60.0) == pytest.approx(6.0)
    assert T.expected_fare(1000.0, 60.0, tolls=2.5) == pytest.approx(8.5)


def test_surge_multiplies_the_meter_but_not_fee_or_tolls():
    assert T.expected_fare(10_000.0, 1200.0, surge=1.5, tolls=2.0) == pytest.approx(12.0 * 1.5 + 1.0 + 2.0)
    # surge can lift a fare above the minimum
    assert T.expected_fare(1000.0, 60.0, surge=2.0) == pytest.approx(max(3.7 * 2.0, 5.0) + 1.0)


def test_shipped_tariffs_load_with_residuals():
    tariffs = load_tariffs()
    assert set(tariffs) >= {"porto", "nyc", "chicago"}
    for city, tariff in tariffs.items():
        assert tariff.residual is not None, city
        assert tariff.residual.scale > 0 and tariff.residual.ratio_p99 > 1.0
    # Porto keeps its published tariff: the simulator prices honest claims with it
    porto = tariffs["porto"]
    assert (porto.base, porto.per_km, porto.per_min, porto.minimum) == (3.25, 0.47, 0.233, 3.25)


def test_residual_score_is_half_at_p99_and_rises():
    r = Residual(center=0.0, scale=0.05, ratio_p99=1.1, n=100)
    assert r.score(1.1) == pytest.approx(0.5)
    assert r.score(1.1 * math.exp(0.05)) == pytest.approx(1 / (1 + math.exp(-1)))
    assert r.score(1.0) < 0.5 < r.score(1.3) < r.score(2.0) <= 1.0
    assert r.score(0.0) == 0.0


@pytest.mark.parametrize(
    "table, key",
    [
        ('currency = "EUR"\nbase = 1.0\nper_km = -0.5\nper_min = 0.1\nminimum = 1.0', "per_km"),
        ('currency = "EUR"\nbase = 1.0\nper_km = 0.5\nper_min = 0.1', "minimum"),
        ('currency = "eur"\nbase = 1.0\nper_km = 0.5\nper_min = 0.1\nminimum = 1.0', "currency"),
        ('currency = "EUR"\nbase = "1"\nper_km = 0.5\nper_min = 0.1\nminimum = 1.0', "base"),
        ('currency = "EUR"\nbase = 1.0\nper_km = 0.5\nper_min = 0.1\nminimum = 1.0\nper_mile = 2.0', "per_mile"),
        (
            'currency = "EUR"\nbase = 1.0\nper_km = 0.5\nper_min = 0.1\nminimum = 1.0\n'
            "[testcity.residual]\ncenter = 0.0\nscale = 0.0\nratio_p99 = 1.1\nn = 10",
            "scale",
        ),
        (
            'currency = "EUR"\nbase = 1.0\nper_km = 0.5\nper_min = 0.1\nminimum = 1.0\n'
            "[testcity.residual]\ncenter = 0.0\nscale = 0.1\nn = 10",
            "ratio_p99",
        ),
    ],
)
def test_bad_tariff_tables_name_the_key(tmp_path, table, key):
    path = tmp_path / "t.toml"
    path.write_text("[testcity]\n" + table + "\n")
    with pytest.raises(ConfigError) as err:
        load_tariffs(path)
    assert key in str(err.value)
    assert "testcity" in str(err.value)


def test_override_file_replaces_coefficients(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(
        '[porto]\nper_km = 0.60\n\n[lisbon]\ncurrency = "EUR"\nbase = 3.0\nper_km = 0.5\nper_min = 0.2\nminimum = 3.0\n'
    )
    tariffs = load_tariffs(path)
    assert tariffs["porto"].per_km == 0.60 and tariffs["porto"].base == 3.25
    assert tariffs["lisbon"].residual is None
