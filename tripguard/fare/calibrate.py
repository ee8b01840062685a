"""Calibrate the fare thresholds and the Porto residual on trips built from real Porto trajectories.

No file links a Porto trajectory to its fare, so honest claims are made the way the simulator
makes them: the Porto tariff on the TRUE distance and duration, x surge, rounded to 0.05 EUR, and
an odometer distance = true x N(1, 0.01). What tripguard sees is the GPS: the real fixes (every
15 s) with an extra accuracy jitter, the obvious multipath spikes removed (the engine does that
upstream), and on some trips a tunnel gap of 60-240 s bridged by a straight line.

TRUE distance is unknown even for the real trace: 15 s sampling cuts corners, so the true
distance is drawn as the cleaned polyline length x U(1.00, 1.05) -- a conservative assumption:
the GPS under-measures honest trips by up to 5 % before gaps.

Fraud is injected as the simulator does: fare_inflation multiplies the honest claim by
U(1.15, 1.8); distance_mismatch multiplies the claimed distance by U(1.3, 2.0).

    python -m tripguard.fare.calibrate --trips tests/data/porto-trips-200.csv [--replicas 4]

(any CSV in the Porto layout: the figures in docs/fare.md come from 500 trips, trips-dev.csv)

prints the honest ratio spread (the residual for tariffs.toml [porto.residual]) and the false
alert rate / recall of each detector over a grid of thresholds.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from tripguard.config.files import shipped_cities
from tripguard.errors import InputError
from tripguard.fare.assess import assess_fare
from tripguard.fare.params import FareParams
from tripguard.fare.tariff import Residual, Tariff, load_tariffs
from tripguard.kernels.geo import M_PER_DEG
from tripguard.kernels.geo import haversine_m_np as haversine_m

SAMPLE_S = 15.0


def path_length_m(latlon: np.ndarray) -> float:
    if len(latlon) < 2:
        return 0.0
    return float(haversine_m(latlon[:-1, 0], latlon[:-1, 1], latlon[1:, 0], latlon[1:, 1]).sum())


def remove_spikes(
    latlon: np.ndarray, max_speed_mps: float = 35.0, dt_s: float = SAMPLE_S, max_cluster: int = 3
) -> np.ndarray:
    """Drop multipath excursions: up to max_cluster fixes that leave the track faster than
    max_speed_mps while a later fix continues plausibly from the last good one. A jump that no
    later fix comes back from is kept (persistent: a real move or a teleport, not a spike)."""
    n = len(latlon)
    if n < 3:
        return latlon
    keep = [0]
    i = 1
    while i < n:
        last = latlon[keep[-1]]
        gap_s = dt_s * (i - keep[-1])
        if haversine_m(last[0], last[1], latlon[i, 0], latlon[i, 1]) <= max_speed_mps * gap_s:
            keep.append(i)
            i += 1
            continue
        resume = None
        for j in range(i + 1, min(i + 1 + max_cluster, n)):
            if haversine_m(last[0], last[1], latlon[j, 0], latlon[j, 1]) <= max_speed_mps * dt_s * (j - keep[-1]):
                resume = j
                break
        if resume is None:
            keep.append(i)  # persistent jump
            i += 1
        else:
            keep.append(resume)
            i = resume + 1
    return latlon[np.asarray(keep)]


def read_porto_polylines(path: Path | str, min_fixes: int = 5) -> tuple[list[np.ndarray], int]:
    """(lat, lon) arrays of the trips with at least min_fixes fixes, and how many were skipped."""
    try:
        frame = pl.read_csv(path, columns=["TRIP_ID", "POLYLINE"], schema_overrides={"TRIP_ID": pl.Utf8})
    except (FileNotFoundError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"{path}: cannot read a Porto trips file with TRIP_ID, POLYLINE: {exc}") from None
    trips, skipped = [], 0
    for text in frame["POLYLINE"].to_list():
        pts = np.asarray(json.loads(text or "[]"), dtype=np.float64).reshape(-1, 2)
        if len(pts) < min_fixes:
            skipped += 1
            continue
        trips.append(np.ascontiguousarray(pts[:, ::-1]))  # [lon, lat] -> (lat, lon)
    return trips, skipped


@dataclass(frozen=True)
class SimTrip:
    gps_distance_m: float
    gps_duration_s: float
    gap_distance_m: float
    gap_count: int
    surge: float
    honest_fare: float
    true_distance_m: float
    honest_claimed_distance_m: float
    inflated_fare: float
    inflated_distance_m: float


def _jitter(latlon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Position error consistent with a device accuracy (68 % radius) drawn lognormal ~5-15 m."""
    acc_m = rng.lognormal(mean=math.log(8.0), sigma=0.4)
    sigma_m = acc_m / 1.515  # 68 % of a 2-D normal lies within 1.515 sigma
    dlat = rng.normal(0.0, sigma_m, len(latlon)) / M_PER_DEG
    dlon = rng.normal(0.0, sigma_m, len(latlon)) / (M_PER_DEG * np.cos(np.radians(latlon[:, 0])))
    return latlon + np.column_stack([dlat, dlon])


def simulate_trip(latlon: np.ndarray, tariff: Tariff, rng: np.random.Generator, gap_share: float) -> SimTrip | None:
    clean = remove_spikes(latlon)
    if len(clean) < 2:
        return None
    true_distance_m = path_length_m(clean) * rng.uniform(1.0, 1.05)
    duration_s = SAMPLE_S * (len(latlon) - 1)
    seen = _jitter(clean, rng)  # the engine removes spikes upstream; the jitter is what remains
    gap_distance_m, gap_count = 0.0, 0
    gap_fixes = int(rng.integers(4, 17))  # 60-240 s without fixes
    if rng.random() < gap_share and len(seen) > gap_fixes + 2:
        start = int(rng.integers(1, len(seen) - gap_fixes - 1))
        a, b = seen[start - 1], seen[start + gap_fixes]
        gap_distance_m = float(haversine_m(a[0], a[1], b[0], b[1]))
        gap_count = 1
        seen = np.concatenate([seen[:start], seen[start + gap_fixes :]])
    surge = 1.0 if rng.random() < 0.8 else float(rng.uniform(1.2, 2.0))
    honest_fare = round(tariff.expected_fare(true_distance_m, duration_s, surge) / 0.05) * 0.05
    inflated_fare = round(honest_fare * rng.uniform(1.15, 1.8), 2)
    return SimTrip(
        gps_distance_m=path_length_m(seen),
        gps_duration_s=duration_s,
        gap_distance_m=gap_distance_m,
        gap_count=gap_count,
        surge=surge,
        honest_fare=honest_fare,
        true_distance_m=true_distance_m,
        honest_claimed_distance_m=true_distance_m * rng.normal(1.0, 0.01),
        inflated_fare=inflated_fare,
        inflated_distance_m=true_distance_m * rng.uniform(1.3, 2.0),
    )


def build_trips(
    polylines: list[np.ndarray], tariff: Tariff, replicas: int, seed: int, gap_share: float
) -> list[SimTrip]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(replicas):
        for latlon in polylines:
            trip = simulate_trip(latlon, tariff, rng, gap_share)
            if trip is not None:
                out.append(trip)
    return out


def _kinds(trip: SimTrip, tariff: Tariff, params: FareParams, fare: float, distance_m: float) -> set[str]:
    result = assess_fare(
        city="porto",
        tariff=tariff,
        params=params,
        gps_distance_m=trip.gps_distance_m,
        gps_duration_s=trip.gps_duration_s,
        gap_distance_m=min(trip.gap_distance_m, trip.gps_distance_m),
        gap_count=trip.gap_count,
        surge=trip.surge,
        claimed_fare=fare,
        currency=tariff.currency,
        claimed_distance_m=distance_m,
        claimed_duration_s=trip.gps_duration_s,
    )
    return {f.kind for f in result.findings}


def evaluate(trips: list[SimTrip], tariff: Tariff, params: FareParams) -> dict[str, float]:
    """False-alert rate on honest trips and recall on each fraud kind, for one parameter set."""
    honest_alerts = honest_inflation = honest_distance = inflation_hits = distance_hits = cross = 0
    for t in trips:
        k = _kinds(t, tariff, params, t.honest_fare, t.honest_claimed_distance_m)
        honest_alerts += bool(k)
        honest_inflation += "fare_inflation" in k
        honest_distance += "distance_mismatch" in k
        k = _kinds(t, tariff, params, t.inflated_fare, t.honest_claimed_distance_m)
        inflation_hits += "fare_inflation" in k
        cross += "distance_mismatch" in k
        k = _kinds(t, tariff, params, t.honest_fare, t.inflated_distance_m)
        distance_hits += "distance_mismatch" in k
        cross += "fare_inflation" in k
    n = len(trips)
    return {
        "honest_false_alert_rate": honest_alerts / n,
        "honest_fare_inflation_rate": honest_inflation / n,
        "honest_distance_mismatch_rate": honest_distance / n,
        "fare_inflation_recall": inflation_hits / n,
        "distance_mismatch_recall": distance_hits / n,
        "wrong_kind_rate": cross / (2 * n),
    }


def honest_residual(trips: list[SimTrip], tariff: Tariff, params: FareParams, source: str) -> Residual:
    """Spread of ln(honest claim / expected fare) as assess_fare computes the expected fare."""
    logs = []
    for t in trips:
        fare_distance = t.gps_distance_m + params.gap_circuity * min(t.gap_distance_m, t.gps_distance_m)
        expected = tariff.expected_fare(fare_distance, t.gps_duration_s, t.surge)
        logs.append(math.log(t.honest_fare / expected))
    arr = np.asarray(logs)
    p16, p50, p84, p99 = np.quantile(arr, [0.16, 0.5, 0.84, 0.99])
    return Residual(
        center=round(float(p50), 5),
        scale=round(float((p84 - p16) / 2), 5),
        ratio_p99=round(float(math.exp(p99)), 4),
        n=len(arr),
        source=source,
    )


def distance_log_spread(trips: list[SimTrip]) -> dict[str, float]:
    logs = np.log([t.honest_claimed_distance_m / max(t.gps_distance_m, 1.0) for t in trips])
    p16, p50, p84, p99 = np.quantile(logs, [0.16, 0.5, 0.84, 0.99])
    return {"center": float(p50), "scale": float((p84 - p16) / 2), "ratio_p99": float(math.exp(p99))}


def gap_circuity_quantiles(polylines: list[np.ndarray], seed: int) -> dict[str, float]:
    """Road (polyline) length over straight line across random 60-240 s windows of real trips:
    what a straight line over a GPS gap under-measures."""
    rng = np.random.default_rng(seed)
    ratios = []
    for latlon in polylines:
        clean = remove_spikes(latlon)
        fixes = int(rng.integers(4, 17))
        if len(clean) < fixes + 3:
            continue
        start = int(rng.integers(1, len(clean) - fixes - 1))
        window = clean[start - 1 : start + fixes + 1]
        chord = float(haversine_m(window[0, 0], window[0, 1], window[-1, 0], window[-1, 1]))
        ratios.append(path_length_m(window) / max(chord, 1.0))
    q = np.quantile(ratios, [0.5, 0.8, 0.9, 0.95])
    return {
        "n": len(ratios),
        "p50": round(float(q[0]), 3),
        "p80": round(float(q[1]), 3),
        "p90": round(float(q[2]), 3),
        "p95": round(float(q[3]), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", required=True, help="Porto trips CSV (TRIP_ID, POLYLINE)")
    parser.add_argument("--replicas", type=int, default=4, help="noise draws per real trajectory")
    parser.add_argument("--seed", type=int, default=20150701)
    parser.add_argument("--gap-share", type=float, default=0.2, help="share of trips with a tunnel gap")
    parser.add_argument("--out", type=Path, help="write the [porto] tariff with this residual into a tariffs TOML")
    args = parser.parse_args(argv)

    tariff = load_tariffs()["porto"]
    base = shipped_cities().params(FareParams, "porto", "fare")
    polylines, skipped = read_porto_polylines(args.trips)
    trips = build_trips(polylines, tariff, args.replicas, args.seed, args.gap_share)
    print(f"{len(polylines)} trajectories used, {skipped} skipped (< 5 fixes); {len(trips)} simulated trips")
    source = (
        f"python -m tripguard.fare.calibrate --trips {Path(args.trips).name} "
        f"--replicas {args.replicas} --seed {args.seed} --gap-share {args.gap_share}"
    )
    residual = honest_residual(trips, tariff, base, source)
    print("honest fare residual (for [porto.residual]):", residual)
    if args.out is not None:
        from tripguard.fare.fit import replace_city_tables, tariff_toml

        comment = (
            "Porto taxi tariff (daytime, 2013): flag fall 3.25 EUR, 0.47 EUR/km, waiting 14 EUR/h.\n"
            "The residual is the honest spread of claimed/expected fare on simulated honest trips over the\n"
            "real Porto trajectories (no Porto fare records exist): " + source
        )
        official = Tariff(**{**tariff.__dict__, "residual": residual})
        text = args.out.read_text() if args.out.exists() else ""
        args.out.write_text(replace_city_tables(text, "porto", tariff_toml("porto", official, comment)))
        load_tariffs(args.out)  # what was written must load
        print(f"wrote [porto] and [porto.residual] to {args.out}")
    print("honest ln(claimed distance / GPS distance):", distance_log_spread(trips))
    print("road / straight line over 60-240 s windows of the real trips:", gap_circuity_quantiles(polylines, args.seed))
    print("shipped params:", json.dumps(evaluate(trips, tariff, base)))
    print(
        "\ninflation_ratio  distance_ratio  gap_circuity | honest any  honest infl  honest dist | "
        "infl recall  dist recall  wrong kind"
    )
    for infl in (1.06, 1.08, 1.10, 1.12):
        for dist in (1.15, 1.20, 1.25):
            for gap in (0.3, 0.5, 0.7):
                params = replace(base, inflation_ratio=infl, distance_ratio=dist, gap_circuity=gap)
                m = evaluate(trips, tariff, params)
                print(
                    f"{infl:15.2f}  {dist:14.2f}  {gap:12.2f} | {m['honest_false_alert_rate']:10.4f}  "
                    f"{m['honest_fare_inflation_rate']:11.4f}  {m['honest_distance_mismatch_rate']:11.4f} | "
                    f"{m['fare_inflation_recall']:11.4f}  {m['distance_mismatch_recall']:11.4f}  "
                    f"{m['wrong_kind_rate']:10.4f}"
                )


if __name__ == "__main__":
    main()
