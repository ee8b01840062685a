"""Fare checks at trip end: expected vs claimed fare, claimed vs GPS distance, detour cost.

Pure functions: the engine calls `assess_fare` once per ended trip with what it measured (GPS
distance and duration, the straight-line distance it had to bridge over GPS gaps) and what the
trip events said (planned route, surge, tolls, quote, claim). The result carries the expected
fares and a list of findings that the engine turns into `fare_inflation` / `distance_mismatch`
alerts; detour inflation is reported inside the evidence (`detour_extra_fare`), because the engine
reports the detour itself as `route_deviation`.

Honest drivers must not be accused, so every threshold is a ratio AND an absolute excess, and the
GPS distance gets an allowance for what a straight line over a gap under-measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tripguard.detectors import Finding, params_dict
from tripguard.errors import CurrencyMismatch, InputError
from tripguard.fare.params import FareParams
from tripguard.fare.tariff import Residual, Tariff

DETECTOR_NAME = "fare"
DETECTOR_VERSION = "1"

# z of the 99th percentile of a normal: a fallback residual puts the honest p99 at the threshold.
_Z99 = 2.326


@dataclass(frozen=True)
class FareAssessment:
    expected_fare: float | None  # GPS path (+ gap allowance); None when the GPS saw too little
    expected_fare_planned: float | None  # planned route, when the trip had one
    detour_extra_fare: float | None  # expected_fare - expected_fare_planned
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a check was skipped, for the verdict


def _money(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def _ratio(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _check_number(name: str, value: float | None, *, optional: bool = False, positive: bool = False) -> None:
    if value is None:
        if optional:
            return
        raise InputError(f"{name}: required, got None")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name}: must be a finite number, got {value!r}")
    if positive and value <= 0.0:
        raise InputError(f"{name}: must be > 0, got {value!r}")
    if value < 0.0:
        raise InputError(f"{name}: must be >= 0, got {value!r}")


def fallback_residual(params: FareParams) -> Residual:
    """Used when a tariff carries no fitted residual: an honest spread whose p99 is the threshold."""
    return Residual(
        center=0.0,
        scale=math.log(params.inflation_ratio) / _Z99,
        ratio_p99=params.inflation_ratio,
        n=0,
        source="none fitted: assumed honest p99 = fare.inflation_ratio",
    )


SPARSE_INTERVAL_S = 15.0  # fixes this far apart cut corners by fare.sparse_gps_undercount; closer ones less
GAP_PACE_CAP_MPS = 15.0  # the pace a car is assumed to keep under a GPS gap is at most this fast
# The trip's average pace outside its gaps includes its stops; a car in a tunnel is moving: over a
# gap it is assumed to go this many times that average (measured on the real Porto trips of the
# tune part: their moving pace is about twice their average).
GAP_PACE_FACTOR = 2.0


def gap_allowance(
    params: FareParams, gps_distance_m: float, gps_duration_s: float, gap_distance_m: float, gap_duration_s: float
) -> float:
    """What a straight line over the GPS gaps may have missed: gap_circuity of the straight
    line, or -- for long gaps, where the road driven is much longer than the line -- the trip's
    moving pace (GAP_PACE_FACTOR x its average outside the gaps) over the gap time, less the line."""
    circuity = params.gap_circuity * gap_distance_m
    seen_s = gps_duration_s - gap_duration_s
    if gap_duration_s <= 0.0 or seen_s <= 0.0:
        return circuity
    pace = min(GAP_PACE_FACTOR * (gps_distance_m - gap_distance_m) / seen_s, GAP_PACE_CAP_MPS)
    return max(circuity, pace * gap_duration_s - gap_distance_m)


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def assess_fare(
    *,
    city: str,
    tariff: Tariff,
    params: FareParams,
    gps_distance_m: float,
    gps_duration_s: float,
    gap_distance_m: float = 0.0,
    gap_count: int = 0,
    gap_duration_s: float = 0.0,
    planned_distance_m: float | None = None,
    planned_duration_s: float | None = None,
    surge: float = 1.0,
    tolls: float | None = None,
    quoted_fare: float | None = None,
    claimed_fare: float,
    currency: str,
    claimed_distance_m: float | None = None,
    claimed_duration_s: float | None = None,
    fix_interval_s: float = 0.0,
    late_fixes: int = 0,
    used_fixes: int = 0,
    ended_ts: int = 0,
) -> FareAssessment:
    """Expected fares and fare findings of one ended trip.

    gps_distance_m includes the straight lines bridged over GPS gaps; gap_distance_m is the part
    of it that was bridged (gap_count gaps). claimed_fare is what the rider is charged, tolls
    included. Raises CurrencyMismatch when the claim is not in the tariff's currency (no rate is
    guessed) and InputError naming the field for a negative or non-finite input. ended_ts (the
    trip_ended's event time, ms) is the findings' time.
    """
    _check_number("gps_distance_m", gps_distance_m)
    _check_number("gps_duration_s", gps_duration_s)
    _check_number("gap_distance_m", gap_distance_m)
    _check_number("gap_duration_s", gap_duration_s)
    _check_number("planned_distance_m", planned_distance_m, optional=True)
    _check_number("planned_duration_s", planned_duration_s, optional=True)
    _check_number("surge", surge, positive=True)
    _check_number("tolls", tolls, optional=True)
    _check_number("quoted_fare", quoted_fare, optional=True)
    _check_number("claimed_fare", claimed_fare)
    _check_number("claimed_distance_m", claimed_distance_m, optional=True)
    _check_number("claimed_duration_s", claimed_duration_s, optional=True)
    if isinstance(gap_count, bool) or not isinstance(gap_count, int) or gap_count < 0:
        raise InputError(f"gap_count: must be an integer >= 0, got {gap_count!r}")
    if gap_distance_m > gps_distance_m + 1e-6:
        raise InputError(
            f"gap_distance_m: the bridged gaps ({gap_distance_m:.1f} m) cannot exceed the GPS distance "
            f"that includes them ({gps_distance_m:.1f} m)"
        )
    if currency != tariff.currency:
        raise CurrencyMismatch(
            f"claimed fare is in {currency!r} but the {city} tariff is in {tariff.currency!r}; "
            "no exchange rate is guessed, so the fare was not checked"
        )
    tolls = tolls or 0.0

    notes: list[str] = []
    gap_allowance_m = gap_allowance(params, gps_distance_m, gps_duration_s, gap_distance_m, gap_duration_s)
    # chords between sparse fixes cut the road's corners: a meter reads more than they do
    corner_allowance_m = params.sparse_gps_undercount * min(1.0, fix_interval_s / SPARSE_INTERVAL_S) * gps_distance_m
    # fixes that arrived after newer ones are dropped from the kinematics (the contract): the road
    # they saw is missing from the GPS distance; each stands for about one of the trip's steps --
    # except those a GPS gap swallowed (a phone that lost its connection uploads them late): the
    # gap allowance already counts the road under the gap, so as many late fixes as the gap lasted
    # fix intervals are its own, not counted twice
    late_outside_gaps = float(late_fixes)
    if late_fixes and gap_count and used_fixes > gap_count + 1:
        interval_s = max(gps_duration_s - gap_duration_s, 1.0) / (used_fixes - 1 - gap_count)
        late_outside_gaps = max(0.0, late_fixes - gap_duration_s / interval_s)
    late_allowance_m = late_outside_gaps * gps_distance_m / max(used_fixes - 1, 1)
    fare_distance_m = gps_distance_m + gap_allowance_m + corner_allowance_m + late_allowance_m

    # A meter charges waiting the GPS may not see (the rider kept the taxi waiting before it moved,
    # and not every app reports that time): the fare is judged against the most an honest meter
    # could charge, waiting_allowance_s of it included. Claimed time beyond the GPS duration, up to
    # that allowance, is that waiting: not held against the GPS coverage either.
    waited_s = 0.0
    if claimed_duration_s is not None:
        waited_s = min(max(claimed_duration_s - gps_duration_s, 0.0), params.waiting_allowance_s)

    # The GPS must have watched most of the trip before its distance can speak against a claim:
    # a phone that stopped reporting halfway is not evidence of an inflated fare.
    coverage = None
    if claimed_duration_s is not None and claimed_duration_s - waited_s > 0.0:
        coverage = gps_duration_s / (claimed_duration_s - waited_s)
    gps_usable = gps_duration_s > 0.0 and (coverage is None or coverage >= params.min_gps_coverage)
    if not gps_usable:
        why = (
            "no GPS duration"
            if gps_duration_s <= 0.0
            else f"GPS covered {coverage:.0%} of the claimed duration (< {params.min_gps_coverage:.0%})"
        )
        notes.append(f"GPS-based fare and distance checks skipped: {why}")

    metered_s = gps_duration_s + waited_s
    expected_gps_only = tariff.expected_fare(gps_distance_m, metered_s, surge, tolls)
    expected = tariff.expected_fare(fare_distance_m, metered_s, surge, tolls) if gps_usable else None
    # the most an honest meter could charge for it: with all the waiting the GPS may not have seen
    ceiling = (
        tariff.expected_fare(fare_distance_m, gps_duration_s + params.waiting_allowance_s, surge, tolls)
        if gps_usable
        else None
    )

    expected_planned = None
    planned_duration_used = planned_duration_s
    if planned_distance_m is not None:
        if planned_duration_used is None:
            planned_duration_used = gps_duration_s  # no planned time: price the planned km at the driven time
        expected_planned = tariff.expected_fare(planned_distance_m, planned_duration_used, surge, tolls)
    detour_extra = None
    if expected is not None and expected_planned is not None:
        detour_extra = expected - expected_planned

    residual = tariff.residual or fallback_residual(params)

    def finding(kind: str, score: float, evidence: dict[str, Any]) -> Finding:
        # the evidence both kinds share is built only when there is a finding (most trips have none)
        shared = {
            "gps_distance_m": round(gps_distance_m, 1),
            "gps_duration_s": round(gps_duration_s, 1),
            "gap_count": gap_count,
            "gap_distance_m": round(gap_distance_m, 1),
            "gap_duration_s": round(gap_duration_s, 1),
            "gap_allowance_m": round(gap_allowance_m, 1),
            "corner_allowance_m": round(corner_allowance_m, 1),
            "late_fixes": late_fixes,
            "late_allowance_m": round(late_allowance_m, 1),
            "fix_interval_s": round(fix_interval_s, 1),
            "gps_coverage": _ratio(coverage),
            "waiting_credited_s": round(waited_s, 1),
            "surge": surge,
            "tolls": _money(tolls),
            "currency": currency,
            "expected_planned": _money(expected_planned),
            "planned_distance_m": None if planned_distance_m is None else round(planned_distance_m, 1),
            "planned_duration_s": None if planned_duration_used is None else round(planned_duration_used, 1),
            "detour_extra_fare": _money(detour_extra),
        }
        return Finding(
            kind=kind,
            score=round(score, 4),
            ts=ended_ts,
            evidence={**evidence, "score": round(score, 4), **shared},
            detector=DETECTOR_NAME,
            version=DETECTOR_VERSION,
            params=params_dict(params),
            severity=params.severity(score),
        )

    findings: list[Finding] = []

    # --- fare_inflation: an upfront-priced trip (quoted_fare) charges its quote plus tolls, so the
    # claim is judged against that; a metered trip against the tariff on the GPS path.
    ratio_to_quote = claimed_fare / (quoted_fare + tolls) if quoted_fare else None
    if quoted_fare:
        basis, reference = "quote", quoted_fare + tolls
    elif expected is not None:
        basis, reference = "gps", ceiling  # type: ignore[assignment]
    else:
        basis, reference = None, None
        notes.append("fare not checked: no usable GPS and no quoted fare")
    if basis is not None and reference > 0.0:  # type: ignore[operator]
        ratio = claimed_fare / reference  # type: ignore[operator]
        excess = claimed_fare - reference  # type: ignore[operator]
        if ratio > params.inflation_ratio and excess >= params.inflation_min_excess:
            score = residual.score(ratio)
            findings.append(
                finding(
                    "fare_inflation",
                    score,
                    {
                        "summary": (
                            f"claimed {claimed_fare:.2f} {currency}, {ratio - 1:.0%} over the "
                            + (
                                f"quote ({reference:.2f} {currency})"
                                if basis == "quote"
                                else f"tariff on the GPS path with {params.waiting_allowance_s / 60:.0f} min of "
                                f"waiting ({reference:.2f} {currency}; {expected:.2f} without)"
                            )
                        ),
                        "basis": basis,
                        "expected": _money(reference),
                        "expected_without_waiting": _money(expected),
                        "expected_gps_only": _money(expected_gps_only),
                        "claimed": _money(claimed_fare),
                        "ratio": _ratio(ratio),
                        "excess": _money(excess),
                        "quoted": _money(quoted_fare),
                        "ratio_to_quote": _ratio(ratio_to_quote),
                        "exceeds_quote": None if ratio_to_quote is None else ratio_to_quote > params.inflation_ratio,
                        "tariff": {"city": city, **tariff.coefficients()},
                        "thresholds": {
                            "inflation_ratio": params.inflation_ratio,
                            "inflation_min_excess": params.inflation_min_excess,
                            "gap_circuity": params.gap_circuity,
                            "min_gps_coverage": params.min_gps_coverage,
                        },
                        "residual": {
                            "center": residual.center,
                            "scale": residual.scale,
                            "ratio_p99": residual.ratio_p99,
                            "n": residual.n,
                            "source": residual.source,
                        },
                    },
                )
            )

    # --- distance_mismatch: the odometer claim vs what the GPS saw, plus the gap allowance.
    if claimed_distance_m is not None and gps_usable:
        allowed_m = fare_distance_m
        ratio_d = claimed_distance_m / max(allowed_m, 1.0)
        excess_m = claimed_distance_m - allowed_m
        if ratio_d > params.distance_ratio and excess_m >= params.distance_min_excess_m:
            # 0.5 at the threshold, one honest spread further per logistic unit
            score = _logistic((math.log(ratio_d) - math.log(params.distance_ratio)) / params.distance_log_scale)
            findings.append(
                finding(
                    "distance_mismatch",
                    score,
                    {
                        "summary": (
                            f"claimed {claimed_distance_m / 1000:.2f} km, {ratio_d - 1:.0%} more than the "
                            f"GPS saw ({allowed_m / 1000:.2f} km with the gap allowance)"
                        ),
                        "claimed_distance_m": round(claimed_distance_m, 1),
                        "allowed_distance_m": round(allowed_m, 1),
                        "ratio": _ratio(ratio_d),
                        "excess_m": round(excess_m, 1),
                        "expected": _money(expected),
                        "claimed": _money(claimed_fare),
                        "tariff": {"city": city, **tariff.coefficients()},
                        "thresholds": {
                            "distance_ratio": params.distance_ratio,
                            "distance_min_excess_m": params.distance_min_excess_m,
                            "distance_log_scale": params.distance_log_scale,
                            "gap_circuity": params.gap_circuity,
                        },
                    },
                )
            )
    elif claimed_distance_m is not None:
        notes.append("distance not checked: GPS saw too little of the trip")

    return FareAssessment(
        expected_fare=_money(expected),
        expected_fare_planned=_money(expected_planned),
        detour_extra_fare=_money(detour_extra),
        findings=findings,
        notes=notes,
    )
