"""Robust tariff fitting, the held-out split, the TOML writer and the fit-fare command."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from tripguard.cli import app
from tripguard.errors import InputError
from tripguard.fare.fit import fit_tariff, huber_fit, replace_city_tables, split_held_out
from tripguard.fare.tariff import load_tariffs


def synthetic_trips(n=2000, outlier_share=0.08, seed=7):
    """Trips priced by base 2.5 + 1.2/km + 0.4/min with meter noise, plus gross outliers."""
    rng = np.random.default_rng(seed)
    km = rng.uniform(0.5, 20.0, n)
    minutes = km * rng.uniform(2.0, 5.0, n)
    fare = 2.5 + 1.2 * km + 0.4 * minutes + rng.normal(0.0, 0.3, n)
    bad = rng.random(n) < outlier_share
    fare[bad] *= rng.uniform(2.0, 5.0, bad.sum())  # flat fares, keyed-in errors, unrecorded distance
    return pl.DataFrame(
        {"row_key": [f"t{i}" for i in range(n)], "distance_m": km * 1000, "duration_s": minutes * 60, "fare": fare}
    )


def test_huber_recovers_coefficients_despite_outliers_where_least_squares_does_not():
    trips = synthetic_trips()
    X = np.column_stack([np.ones(trips.height), trips["distance_m"] / 1000, trips["duration_s"] / 60])
    y = trips["fare"].to_numpy()
    robust = huber_fit(X, y)
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    truth = np.array([2.5, 1.2, 0.4])
    assert np.abs(robust - truth).max() < 0.1
    assert np.abs(ols - truth).max() > 0.3  # the outliers really do pull an ordinary fit


def test_huber_keeps_coefficients_non_negative():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 500)
    y = 5.0 - 0.3 * x + rng.normal(0, 0.1, 500)
    coef = huber_fit(np.column_stack([np.ones_like(x), x]), y)
    assert coef.min() >= 0.0


def test_fit_tariff_reports_held_out_metrics_and_residual():
    result = fit_tariff(synthetic_trips(), "EUR", "test")
    t = result.tariff
    assert t.base == pytest.approx(2.5, abs=0.15) and t.per_km == pytest.approx(1.2, abs=0.05)
    assert t.per_min == pytest.approx(0.4, abs=0.05)
    assert result.test_rows + result.train_rows == 2000
    assert 0.15 < result.test_rows / 2000 < 0.25
    assert result.fitted.mape < result.baseline.mape
    assert t.residual.center == pytest.approx(0.0, abs=0.02)
    assert t.residual.ratio_p99 > 1.5  # the outliers are in the held-out spread too: it is honest about them


def test_split_is_deterministic_and_order_free():
    keys = [f"row-{i}" for i in range(1000)]
    a = split_held_out(keys)
    b = split_held_out(keys[::-1])[::-1]
    assert (a == b).all() and 150 < a.sum() < 250


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(InputError, match="too few usable trips"):
        fit_tariff(synthetic_trips(n=10), "EUR", "test")


def test_replace_city_tables_keeps_the_others():
    text = "# header\n\n[porto]\nbase = 1.0\n\n# nyc note\n[nyc]\nbase = 2.0\n\n[nyc.residual]\nscale = 0.1\n\n[chicago]\nbase = 3.0\n"
    new = replace_city_tables(text, "nyc", "[nyc]\nbase = 9.0\n")
    tables = tomllib.loads(new)
    assert tables["porto"]["base"] == 1.0 and tables["chicago"]["base"] == 3.0
    assert tables["nyc"] == {"base": 9.0}
    assert "# header" in new and "# nyc note" not in new


def test_fit_fare_command_on_real_slice_writes_a_loadable_tariff(data_dir, tmp_path):
    out = tmp_path / "tariffs.toml"
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["fit-fare", "--trips", str(data_dir / "nyc_tlc_2015_slice.csv"), "--city", "nyc", "--out", str(out), "--json"],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["cleaning"]["layout"] == "nyc_tlc"
    assert report["cleaning"]["rows_kept"] == report["train_rows"] + report["test_rows"]
    assert set(report["held_out"]) == {"fitted", "distance_only_baseline", "shipped_tariff"}
    loaded = load_tariffs(out)["nyc"]
    assert loaded.per_km == report["tariff"]["per_km"] and loaded.residual is not None

    text = runner.invoke(app, ["fit-fare", "--trips", str(data_dir / "chicago_taxi_slice.csv"), "--city", "chicago"])
    assert text.exit_code == 0, text.output
    assert "distance-only baseline" in text.output and "dropped" in text.output


def test_fit_fare_unknown_city_needs_a_currency(data_dir):
    res = CliRunner().invoke(app, ["fit-fare", "--trips", str(data_dir / "chicago_taxi_slice.csv"), "--city", "oslo"])
    assert res.exit_code != 0
    assert "--currency" in str(res.exception) or "--currency" in res.output
