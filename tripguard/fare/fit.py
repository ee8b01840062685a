"""Fit a city's tariff from historical trips, robustly, and measure it on held-out rows.

The tariff form is the one Tariff.expected_fare applies: fare = base + per_km*km + per_min*min,
at least `minimum`. Coefficients come from a Huber regression (iteratively reweighted least
squares, non-negative coefficients, scale re-estimated by MAD each step), so broken meters and
data-entry errors that survived cleaning pull the fit little. `minimum` is the 0.5 % quantile of
the training fares (the lowest fare the meter really charges, robust to a few stray rows).

Held-out rows: a deterministic 80/20 split by CRC-32 of each row's own content (not file order).
Reported on them: MAE, MAPE, R2 of the fitted tariff, of a distance-only baseline fitted the same
way (fare = a + b*km) and of the tariff shipped for the city, when there is one.

The residual model is the honest spread of ln(fare / expected) on the held-out rows: its median,
(p84 - p16)/2 and the p99 of the ratio, stored as [<city>.residual] in tariffs.toml.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import lsq_linear

from tripguard.errors import InputError
from tripguard.fare.tariff import Residual, Tariff

HUBER_K = 1.345  # 95 % efficiency at the normal
TEST_BUCKETS = 5  # crc32 % 5 == 0 -> held out: 20 %
MINIMUM_QUANTILE = 0.005
MIN_TRAIN_ROWS = 20
SHARE_RATIOS = (1.10, 1.15, 1.25, 1.50)


def huber_fit(X: np.ndarray, y: np.ndarray, k: float = HUBER_K, max_iter: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Non-negative Huber regression by IRLS. Returns the coefficients."""
    bounds = (np.zeros(X.shape[1]), np.full(X.shape[1], np.inf))
    coef = lsq_linear(X, y, bounds=bounds).x
    for _ in range(max_iter):
        resid = y - X @ coef
        scale = 1.4826 * np.median(np.abs(resid - np.median(resid)))
        if not scale > 0.0:
            break  # exact fit of the majority: nothing left to down-weight
        u = np.abs(resid) / scale
        w = np.where(u <= k, 1.0, k / np.maximum(u, 1e-300))
        sw = np.sqrt(w)
        new = lsq_linear(X * sw[:, None], y * sw, bounds=bounds).x
        if np.max(np.abs(new - coef)) <= tol * (1.0 + np.max(np.abs(coef))):
            coef = new
            break
        coef = new
    return coef


def split_held_out(keys: list[str]) -> np.ndarray:
    """True for held-out rows: crc32 of the row key, bucket 0 of 5."""
    return np.fromiter((zlib.crc32(k.encode()) % TEST_BUCKETS == 0 for k in keys), dtype=bool, count=len(keys))


@dataclass(frozen=True)
class Metrics:
    n: int
    mae: float
    mape: float
    r2: float

    def as_dict(self) -> dict:
        return {"n": self.n, "mae": self.mae, "mape": self.mape, "r2": self.r2}


def metrics(predicted: np.ndarray, actual: np.ndarray) -> Metrics:
    err = predicted - actual
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    return Metrics(
        n=len(actual),
        mae=float(np.mean(np.abs(err))),
        mape=float(np.mean(np.abs(err) / actual)),
        r2=1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
    )


def predict(tariff: Tariff, distance_m: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    metered = tariff.base + tariff.per_km * distance_m / 1000.0 + tariff.per_min * duration_s / 60.0
    return np.maximum(metered, tariff.minimum) + tariff.booking_fee


def residual_of(tariff: Tariff, distance_m, duration_s, fare, source: str) -> Residual:
    logs = np.log(fare / predict(tariff, distance_m, duration_s))
    p16, p50, p84, p99 = np.quantile(logs, [0.16, 0.5, 0.84, 0.99])
    return Residual(
        center=round(float(p50), 5),
        scale=round(max(float((p84 - p16) / 2), 1e-4), 5),
        ratio_p99=round(float(math.exp(p99)), 4),
        n=len(logs),
        source=source,
    )


@dataclass(frozen=True)
class FitResult:
    tariff: Tariff  # fitted, with its residual
    train_rows: int
    test_rows: int
    fitted: Metrics
    baseline: Metrics  # distance-only a + b*km, same fitting
    baseline_coefficients: dict
    shipped: Metrics | None  # the tariff shipped for the city, on the same rows
    # share of held-out (honest, metered) rows whose fare / expected exceeds each ratio: what a
    # fare_inflation threshold would accuse if the GPS measured the trip as well as the meter
    share_above: dict[str, float]

    def as_dict(self) -> dict:
        return {
            "tariff": self.tariff.coefficients(),
            "residual": None if self.tariff.residual is None else self.tariff.residual.__dict__,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "held_out": {
                "fitted": self.fitted.as_dict(),
                "distance_only_baseline": self.baseline.as_dict(),
                "shipped_tariff": None if self.shipped is None else self.shipped.as_dict(),
            },
            "baseline_coefficients": self.baseline_coefficients,
            "held_out_share_above_ratio": self.share_above,
        }


def fit_tariff(trips: pl.DataFrame, currency: str, source: str, shipped: Tariff | None = None) -> FitResult:
    """Fit on 80 % of the cleaned trips, measure on the other 20 %."""
    test = split_held_out(trips["row_key"].to_list())
    dist = trips["distance_m"].to_numpy().astype(np.float64)
    dur = trips["duration_s"].to_numpy().astype(np.float64)
    fare = trips["fare"].to_numpy().astype(np.float64)
    train = ~test
    if train.sum() < MIN_TRAIN_ROWS or test.sum() < 5:
        raise InputError(
            f"too few usable trips to fit a tariff: {int(train.sum())} training and {int(test.sum())} held-out rows "
            f"after cleaning (need >= {MIN_TRAIN_ROWS} and >= 5)"
        )
    km, minutes = dist / 1000.0, dur / 60.0
    minimum = float(np.quantile(fare[train], MINIMUM_QUANTILE))

    X = np.column_stack([np.ones_like(km), km, minutes])
    base, per_km, per_min = (float(c) for c in huber_fit(X[train], fare[train]))
    fitted = Tariff(
        currency=currency,
        base=round(base, 4),
        per_km=round(per_km, 4),
        per_min=round(per_min, 4),
        minimum=round(minimum, 2),
    )

    Xb = np.column_stack([np.ones_like(km), km])
    a, b = (float(c) for c in huber_fit(Xb[train], fare[train]))
    baseline = Tariff(currency=currency, base=a, per_km=b, per_min=0.0, minimum=minimum)

    residual = residual_of(fitted, dist[test], dur[test], fare[test], source)
    ratio = fare[test] / predict(fitted, dist[test], dur[test])
    share_above = {f"{r:.2f}": round(float(np.mean(ratio > r)), 4) for r in SHARE_RATIOS}
    fitted = Tariff(**{**fitted.__dict__, "residual": residual})
    return FitResult(
        tariff=fitted,
        train_rows=int(train.sum()),
        test_rows=int(test.sum()),
        fitted=metrics(predict(fitted, dist[test], dur[test]), fare[test]),
        baseline=metrics(predict(baseline, dist[test], dur[test]), fare[test]),
        baseline_coefficients={"base": round(a, 4), "per_km": round(b, 4), "minimum": round(minimum, 2)},
        shipped=None if shipped is None else metrics(predict(shipped, dist[test], dur[test]), fare[test]),
        share_above=share_above,
    )


def _toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def tariff_toml(city: str, tariff: Tariff, comment: str = "") -> str:
    """The [city] and [city.residual] tables of tariffs.toml for a tariff."""
    lines = [f"# {line}" for line in comment.splitlines()] if comment else []
    lines.append(f"[{city}]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in tariff.coefficients().items()]
    if tariff.residual is not None:
        lines += ["", f"[{city}.residual]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in tariff.residual.__dict__.items()]
    return "\n".join(lines) + "\n"


def replace_city_tables(text: str, city: str, block: str) -> str:
    """Text of a tariffs.toml with the [city] / [city.*] tables (and the comment lines right above
    them) replaced by `block`; other tables and their comments are kept as written."""
    lines = text.splitlines()
    out: list[str] = []
    pending_comments: list[str] = []  # comment lines directly above the next header belong to it
    skipping = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            name = stripped.strip("[]").strip()
            skipping = name == city or name.startswith(city + ".")
            if not skipping:
                out += pending_comments
                out.append(line)
            pending_comments = []
            continue
        if stripped.startswith("#"):
            pending_comments.append(line)
            continue
        if not skipping:
            out += pending_comments
            out.append(line)
        pending_comments = []
    out += pending_comments
    body = "\n".join(out).rstrip("\n")
    return (body + "\n\n" if body else "") + block
