"""`tripguard evaluate`: how well the alerts match labelled fraud, with 95 % confidence intervals.

A trip counts as flagged for a kind when it has at least one alert of it. Per kind: precision,
recall and F1; over the honest trips (no label): the share that got any alert; and a confusion
table (labelled kind x alerted kinds), so that an alert naming the wrong cause is visible.

An alert that names the alert it follows from (`evidence.related`: a fare judged on a trace that a
teleport displaced) is not a second accusation: it is counted apart, as secondary, and the trip is
scored on its root causes.

Intervals: a percentile bootstrap that resamples independent units. When labels.csv carries a
`base` column (the real trip a simulated trip was made from: several seeds reuse the same real
trip), the unit is the base, so repeated runs over the same 250 real trips are not counted as
750 independent trips. Where the estimate is 0 or 1 the bootstrap interval collapses; the Wilson
score interval on the number of units is used for that side instead.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import cast

import numpy as np
import orjson

from tripguard.contract import ALERT_KINDS
from tripguard.errors import InputError

HONEST = "honest"
BOOTSTRAP_SAMPLES = 2000
Z95 = 1.959964


def read_labels(path: Path) -> tuple[dict[str, set[str]], dict[str, str]]:
    """(trip_id -> labelled kinds, trip_id -> base unit)."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"trip_id", "kinds"} <= set(reader.fieldnames):
                raise InputError(f"{path}: needs columns trip_id,kinds")
            labels, base = {}, {}
            for row in reader:
                kinds = {k.strip() for k in (row["kinds"] or "").split(";") if k.strip()}
                unknown = kinds - set(ALERT_KINDS)
                if unknown:
                    raise InputError(f"{path}: trip {row['trip_id']}: unknown kind(s) {', '.join(sorted(unknown))}")
                labels[row["trip_id"]] = kinds
                base[row["trip_id"]] = (row.get("base") or "").strip() or row["trip_id"]
            return labels, base
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None


def read_alerted(path: Path, secondary: bool = False) -> dict[str, set[str]]:
    """trip_id -> the kinds of its root-cause alerts (secondary=True: of the alerts that follow
    from another one, evidence.related)."""
    alerted: dict[str, set[str]] = defaultdict(set)
    try:
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    a = orjson.loads(line)
                    related = bool((a.get("evidence") or {}).get("related"))
                    if related == secondary:
                        alerted[a["trip_id"]].add(a["kind"])
                except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                    raise InputError(f"{path}:{lineno}: not an alert (needs trip_id and kind)") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return alerted


def _counts(lab: np.ndarray, hit: np.ndarray, honest: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per kind (tp, fp, fn) and honest (flagged, total), weighted by w (bootstrap multiplicity).
    lab and hit are (trips, kinds) booleans; honest flags the trips without a label."""
    tp = w @ (lab & hit)
    fp = w @ (~lab & hit)
    fn = w @ (lab & ~hit)
    any_hit = hit.any(axis=1)
    return np.concatenate([tp, fp, fn, [w @ (honest & any_hit), w @ honest]])


def _metrics(c: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    tp, fp, fn = c[:k], c[k : 2 * k], c[2 * k : 3 * k]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        r = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        rate = c[-2] / c[-1] if c[-1] > 0 else np.nan
    return p, r, f1, rate


def wilson(successes: float, n: float) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    d = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / d
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def _interval(est: float, boot: np.ndarray, successes_units: float, n_units: float) -> list[float] | None:
    if math.isnan(est):
        return None
    finite = boot[np.isfinite(boot)]
    lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (est, est)
    w_lo, w_hi = wilson(successes_units, n_units)
    if est <= 0.0 or lo == hi == est:
        hi = max(hi, w_hi)
    if est >= 1.0 or lo == hi == est:
        lo = min(lo, w_lo)
    return [round(float(lo), 4), round(float(hi), 4)]


def evaluate(
    labels: dict[str, set[str]],
    alerted: dict[str, set[str]],
    base: dict[str, str] | None = None,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
    secondary: dict[str, set[str]] | None = None,
) -> dict:
    trips = list(labels)
    k = len(ALERT_KINDS)
    lab = np.array([[kind in labels[t] for kind in ALERT_KINDS] for t in trips], bool).reshape(len(trips), k)
    hit = np.array([[kind in alerted.get(t, ()) for kind in ALERT_KINDS] for t in trips], bool).reshape(len(trips), k)
    honest = ~lab.any(axis=1)
    base = base or {}
    units, unit_of = np.unique([base.get(t, t) for t in trips], return_inverse=True)
    n_units = len(units)
    counts = _counts(lab, hit, honest, np.ones(len(trips)))  # type: ignore[arg-type]
    p, r, f1, rate = _metrics(counts, k)

    # bootstrap: resample units with replacement; a trip's weight is how often its unit was drawn
    rng = np.random.default_rng(seed)
    boot_p, boot_r, boot_f1, boot_rate = [], [], [], []
    for _ in range(samples if len(trips) else 0):
        draws = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        bp, br, bf, brate = _metrics(_counts(lab, hit, honest, draws[unit_of].astype(float)), k)  # type: ignore[arg-type]
        boot_p.append(bp), boot_r.append(br), boot_f1.append(bf), boot_rate.append(brate)  # type: ignore[func-returns-value]
    boot = {
        name: (np.array(v) if v else np.full((1, k), np.nan))
        for name, v in (("p", boot_p), ("r", boot_r), ("f1", boot_f1))
    }
    boot_rate_a = np.array(boot_rate) if boot_rate else np.full(1, np.nan)

    def units_where(mask: np.ndarray) -> float:
        return float(len(np.unique(unit_of[mask]))) if mask.any() else 0.0

    per_kind = {}
    for j, kind in enumerate(ALERT_KINDS):
        tp, fp, fn = (int(x) for x in (counts[j], counts[k + j], counts[2 * k + j]))
        alerted_units = units_where(hit[:, j])
        labelled_units = units_where(lab[:, j])
        per_kind[kind] = {
            "labelled": tp + fn,
            "alerted": tp + fp,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": _num(p[j]),
            "precision_ci": _interval(p[j], boot["p"][:, j], units_where(lab[:, j] & hit[:, j]), alerted_units),
            "recall": _num(r[j]),
            "recall_ci": _interval(r[j], boot["r"][:, j], units_where(lab[:, j] & hit[:, j]), labelled_units),
            "f1": _num(f1[j]),
            "f1_ci": _interval(
                f1[j], boot["f1"][:, j], units_where(lab[:, j] & hit[:, j]), units_where(lab[:, j] | hit[:, j])
            ),
            "false_alert_rate_honest": (float(np.mean(hit[honest, j])) if honest.any() else None),
        }
    honest_any = int(counts[-2])
    confusion = {}
    for row_kind in (HONEST, *ALERT_KINDS):
        rows = honest if row_kind == HONEST else lab[:, ALERT_KINDS.index(row_kind)]
        confusion[row_kind] = {
            "trips": int(rows.sum()),
            "none": int((rows & ~hit.any(axis=1)).sum()),
            **{kind: int((rows & hit[:, j]).sum()) for j, kind in enumerate(ALERT_KINDS)},
        }
    return {
        "trips": len(trips),
        "units": n_units,
        "honest_trips": int(honest.sum()),
        "fraud_trips": int((~honest).sum()),
        "honest_trips_alerted": honest_any,
        "false_alert_rate_honest": _num(rate),
        "false_alert_rate_honest_ci": _interval(
            rate,
            boot_rate_a,
            units_where(cast(np.ndarray, honest & hit.any(axis=1))),
            units_where(cast(np.ndarray, honest)),
        ),
        "macro_f1": _num(float(np.nanmean(f1))) if np.isfinite(f1).any() else None,
        "alerts_for_unlabelled_trips": sum(1 for t in alerted if t not in labels),
        "kinds": per_kind,
        "confusion": confusion,
        # alerts that name the alert they follow from: trips by labelled kind and their kinds
        "secondary": {
            row: {k: n for k, n in counts.items() if n}
            for row, counts in _secondary(labels, secondary or {}).items()
            if any(counts.values())
        },
    }


def _secondary(labels: dict[str, set[str]], secondary: dict[str, set[str]]) -> dict[str, dict[str, int]]:
    out = {row: {k: 0 for k in ALERT_KINDS} for row in (HONEST, *ALERT_KINDS)}
    for trip, kinds in secondary.items():
        if trip not in labels:
            continue
        for row in labels[trip] or {HONEST}:
            for k in kinds:
                out[row][k] += 1
    return out


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


def _ci(ci: list[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def format_table(report: dict) -> str:
    def f(x):
        return "  -  " if x is None else f"{x:.3f}"

    head = f"{'kind':18} {'labelled':>8} {'alerted':>7}  {'precision':<19} {'recall':<19} {'F1':<19}"
    lines = [head]
    for kind, r in report["kinds"].items():
        lines.append(
            f"{kind:18} {r['labelled']:8d} {r['alerted']:7d}  "
            f"{f(r['precision']):>5} {_ci(r['precision_ci']):<13} {f(r['recall']):>5} {_ci(r['recall_ci']):<13} "
            f"{f(r['f1']):>5} {_ci(r['f1_ci']):<13}"
        )
    rate = report["false_alert_rate_honest"]
    lines.append("")
    ci = report["false_alert_rate_honest_ci"]
    lines.append(
        f"honest trips: {report['honest_trips']}, with any alert: {report['honest_trips_alerted']} "
        + (f"({rate:.2%}, 95 % CI [{ci[0]:.2%}, {ci[1]:.2%}])" if rate is not None else "")
    )
    if report["units"] != report["trips"]:
        lines.append(f"intervals resample {report['units']} independent base trips (of {report['trips']} trips)")
    lines.append("")
    lines.append("confusion: trips by labelled kind (rows) and the kinds alerted on them (columns)")
    short = {
        "teleport": "tele",
        "impossible_speed": "speed",
        "route_deviation": "route",
        "fare_inflation": "fare",
        "distance_mismatch": "dist",
        "gps_spoofing": "spoof",
    }
    lines.append(f"{'labelled':18} {'trips':>6} {'none':>6} " + " ".join(f"{short[k]:>6}" for k in ALERT_KINDS))
    for row_kind, row in report["confusion"].items():
        lines.append(
            f"{row_kind:18} {row['trips']:6d} {row['none']:6d} " + " ".join(f"{row[k]:6d}" for k in ALERT_KINDS)
        )
    if report.get("secondary"):
        lines.append(
            "secondary alerts (naming the alert they follow from), not scored: "
            + "; ".join(
                f"on {row}: " + ", ".join(f"{k} {n}" for k, n in kinds.items())
                for row, kinds in report["secondary"].items()
            )
        )
    return "\n".join(lines)
