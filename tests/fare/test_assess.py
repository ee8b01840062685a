"""assess_fare decisions on clear honest and clear fraudulent trips, and its evidence."""

from __future__ import annotations

import dataclasses

import pytest

from tripguard.errors import CurrencyMismatch, InputError
from tripguard.fare.assess import assess_fare

# A 6 km, 15 min Porto trip as the GPS saw it
GPS_M, DUR_S = 6000.0, 900.0


def run(tariff, params, **kw):
    args = dict(
        city="porto",
        tariff=tariff,
        params=params,
        gps_distance_m=GPS_M,
        gps_duration_s=DUR_S,
        claimed_fare=tariff.expected_fare(GPS_M, DUR_S),
        currency="EUR",
    )
    args.update(kw)
    return assess_fare(**args)


def kinds(result):
    return sorted(f.kind for f in result.findings)


def test_honest_trip_with_meter_noise_is_not_accused(porto_tariff, porto_params):
    # the meter saw 4 % more road than the GPS (corner cutting at 15 s sampling), odometer +1 %
    true_m = GPS_M * 1.04
    honest = round(porto_tariff.expected_fare(true_m, DUR_S) / 0.05) * 0.05
    result = run(
        porto_tariff, porto_params, claimed_fare=honest, claimed_distance_m=true_m * 1.01, claimed_duration_s=DUR_S
    )
    assert result.findings == []
    assert result.expected_fare == pytest.approx(porto_tariff.expected_fare(GPS_M, DUR_S), abs=0.01)


def test_inflated_fare_is_flagged_with_evidence(porto_tariff, porto_params):
    expected = porto_tariff.expected_fare(GPS_M, DUR_S)
    result = run(porto_tariff, porto_params, claimed_fare=expected * 1.25, quoted_fare=expected)
    assert kinds(result) == ["fare_inflation"]
    f = result.findings[0]
    ev = f.evidence
    assert ev["ratio"] == pytest.approx(1.25, abs=1e-3)
    assert ev["expected"] == pytest.approx(expected, abs=0.01)
    assert ev["claimed"] == pytest.approx(expected * 1.25, abs=0.01)
    assert ev["tariff"]["per_km"] == porto_tariff.per_km and ev["tariff"]["city"] == "porto"
    assert ev["thresholds"]["inflation_ratio"] == porto_params.inflation_ratio
    assert ev["residual"]["ratio_p99"] == porto_tariff.residual.ratio_p99
    assert ev["score"] == f.score and 0.5 < f.score <= 1.0
    assert ev["basis"] == "quote" and ev["exceeds_quote"] is True  # an upfront trip charges its quote
    assert f.severity == "high"


def test_fare_just_under_threshold_or_tiny_excess_is_not_flagged(porto_tariff, porto_params):
    expected = porto_tariff.expected_fare(GPS_M, DUR_S)
    assert run(porto_tariff, porto_params, claimed_fare=expected * 1.09).findings == []
    # a minimum-fare ride: 15 % over is only ~0.5 EUR, under the absolute excess -> meter rounding, not fraud
    tiny = porto_tariff.expected_fare(50.0, 15.0)
    r = run(
        porto_tariff,
        porto_params,
        gps_distance_m=50.0,
        gps_duration_s=15.0,
        claimed_fare=tiny + porto_params.inflation_min_excess - 0.05,
    )
    assert r.findings == []


def test_inflated_distance_is_flagged(porto_tariff, porto_params):
    result = run(porto_tariff, porto_params, claimed_distance_m=GPS_M * 1.5)
    assert kinds(result) == ["distance_mismatch"]
    ev = result.findings[0].evidence
    assert ev["claimed_distance_m"] == GPS_M * 1.5 and ev["allowed_distance_m"] == GPS_M
    assert ev["ratio"] == pytest.approx(1.5)
    assert ev["thresholds"]["distance_ratio"] == porto_params.distance_ratio


def test_gap_allowance_spares_a_tunnel_detour_but_not_a_big_lie(porto_tariff, porto_params):
    # 2 km of the 6 km were bridged by a straight line over a GPS gap; the road was 40 % longer there
    true_m = GPS_M + 0.4 * 2000.0
    honest = run(porto_tariff, porto_params, gap_distance_m=2000.0, gap_count=1, claimed_distance_m=true_m * 1.15)
    assert honest.findings == []
    without_allowance = run(porto_tariff, porto_params, claimed_distance_m=true_m * 1.15)
    assert kinds(without_allowance) == ["distance_mismatch"]
    lie = run(porto_tariff, porto_params, gap_distance_m=2000.0, gap_count=1, claimed_distance_m=true_m * 1.6)
    assert kinds(lie) == ["distance_mismatch"]
    assert lie.findings[0].evidence["gap_allowance_m"] == pytest.approx(porto_params.gap_circuity * 2000.0)


def test_late_fixes_a_gap_swallowed_are_not_counted_twice(porto_tariff, porto_params):
    # 41 fixes 15 s apart, one 3 min gap bridged by a 1.8 km straight line; the phone uploaded the
    # gap's 12 fixes late. The gap allowance covers the road under the gap; counting each late fix
    # as a missing step as well had allowed a claim 60 % over the road as honest.
    trip = dict(gap_distance_m=1800.0, gap_count=1, gap_duration_s=180.0, used_fixes=41, late_fixes=12)
    lie = run(porto_tariff, porto_params, **trip, claimed_distance_m=GPS_M * 1.6)
    assert "distance_mismatch" in kinds(lie)
    honest = run(porto_tariff, porto_params, **trip, claimed_distance_m=GPS_M * 1.15)
    assert kinds(honest) == []
    # late fixes away from any gap still stand for the steps they saw
    spread = run(porto_tariff, porto_params, used_fixes=41, late_fixes=12, claimed_distance_m=GPS_M * 1.4)
    assert "distance_mismatch" not in kinds(spread)


def test_currency_mismatch_is_an_error_not_a_guess(porto_tariff, porto_params):
    with pytest.raises(CurrencyMismatch, match="USD.*EUR"):
        run(porto_tariff, porto_params, currency="USD")


def test_little_gps_coverage_skips_the_checks_with_a_note(porto_tariff, porto_params):
    # the phone stopped reporting after 5 of 15 minutes: the GPS cannot speak against the claim
    result = run(
        porto_tariff,
        porto_params,
        gps_duration_s=300.0,
        gps_distance_m=2000.0,
        claimed_duration_s=900.0,
        claimed_distance_m=6000.0,
        claimed_fare=12.0,
    )
    assert result.findings == [] and result.expected_fare is None
    # 180 s of the claimed 900 s are credited as waiting: the GPS saw 300 of 720 s
    assert any("covered 42%" in n for n in result.notes)


def test_upfront_trip_is_judged_against_its_quote_even_without_gps(porto_tariff, porto_params):
    result = run(
        porto_tariff, porto_params, gps_duration_s=0.0, gps_distance_m=0.0, quoted_fare=10.0, claimed_fare=14.0
    )
    assert kinds(result) == ["fare_inflation"]
    assert result.findings[0].evidence["basis"] == "quote"
    assert (
        run(
            porto_tariff, porto_params, gps_duration_s=0.0, gps_distance_m=0.0, quoted_fare=10.0, claimed_fare=10.5
        ).findings
        == []
    )


def test_claim_over_the_quote_is_inflation_even_when_the_gps_path_would_justify_it(porto_tariff, porto_params):
    # upfront pricing: the rider agreed to the quote; a longer ride does not raise it
    driven = porto_tariff.expected_fare(GPS_M, DUR_S)
    result = run(
        porto_tariff,
        porto_params,
        claimed_fare=driven,
        quoted_fare=driven / 1.4,
        planned_distance_m=GPS_M / 1.5,
        planned_duration_s=DUR_S / 1.3,
    )
    assert kinds(result) == ["fare_inflation"] and result.findings[0].evidence["basis"] == "quote"


def test_metered_longer_ride_priced_by_the_gps_path_is_not_fare_inflation(porto_tariff, porto_params):
    # no quote: a longer ride than planned is priced by what was driven; the detour is route_deviation's job
    driven = porto_tariff.expected_fare(GPS_M, DUR_S)
    result = run(
        porto_tariff, porto_params, claimed_fare=driven, planned_distance_m=GPS_M / 1.5, planned_duration_s=DUR_S / 1.3
    )
    assert result.findings == []
    assert result.detour_extra_fare == pytest.approx(driven - result.expected_fare_planned, abs=0.01)
    assert result.detour_extra_fare > 1.0


def test_detour_extra_fare_in_evidence(porto_tariff, porto_params):
    planned = porto_tariff.expected_fare(4000.0, 600.0)
    result = run(
        porto_tariff, porto_params, planned_distance_m=4000.0, planned_duration_s=600.0, claimed_distance_m=GPS_M * 1.6
    )
    assert result.expected_fare_planned == pytest.approx(planned, abs=0.01)
    ev = result.findings[0].evidence
    assert ev["detour_extra_fare"] == pytest.approx(result.expected_fare - planned, abs=0.01)


def test_surge_and_tolls_raise_the_expected_fare(porto_tariff, porto_params):
    surged = porto_tariff.expected_fare(GPS_M, DUR_S, surge=1.8, tolls=2.0)
    result = run(porto_tariff, porto_params, surge=1.8, tolls=2.0, claimed_fare=surged)
    assert result.findings == [] and result.expected_fare == pytest.approx(surged, abs=0.01)
    flagged = run(porto_tariff, porto_params, claimed_fare=surged)  # surge not declared: the claim looks inflated
    assert kinds(flagged) == ["fare_inflation"]


def test_no_residual_falls_back_to_threshold_p99(porto_tariff, porto_params):
    bare = dataclasses.replace(porto_tariff, residual=None)
    result = run(bare, porto_params, claimed_fare=bare.expected_fare(GPS_M, DUR_S) * 1.3)
    ev = result.findings[0].evidence
    assert ev["residual"]["ratio_p99"] == porto_params.inflation_ratio and ev["residual"]["n"] == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("gps_distance_m", -1.0),
        ("gps_duration_s", float("nan")),
        ("claimed_fare", float("inf")),
        ("surge", 0.0),
        ("claimed_distance_m", -5.0),
        ("gap_count", -1),
        ("gap_distance_m", GPS_M + 100.0),
        ("tolls", "2"),
    ],
)
def test_bad_inputs_name_the_field(porto_tariff, porto_params, field, value):
    with pytest.raises(InputError, match=field):
        run(porto_tariff, porto_params, **{field: value})
