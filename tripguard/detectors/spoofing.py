"""gps_spoofing: the OS mock flag, device speed that contradicts the positions, traces too regular
to come from a phone. Each signal is scored from the kinematics kernel's per-trip statistics at
trip end; an alert is raised only when the combined score is strong (`alert_score`)."""

from __future__ import annotations

import math

from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS
from tripguard.detectors import Finding, params_dict
from tripguard.kernels import kinematics as K

VERSION = "1.0"


@dataclass(frozen=True, config=PARAMS)
class SpoofingParams:
    """data/cities.toml [<city>.spoofing]."""

    min_samples: int
    mock_min_fixes: int
    mock_min_fraction: float
    repeated_interval_fraction: float
    constant_accuracy_std_m: float
    constant_speed_cv: float
    collinear_fraction: float
    device_contradiction_fraction: float
    device_constant_cv: float
    device_constant_position_cv: float
    device_min_samples: int
    alert_score: float


def _std(n: float, s: float, s2: float) -> float:
    if n < 2:
        return math.nan
    return math.sqrt(max(0.0, s2 / n - (s / n) ** 2))


# How much each hallmark of a replayed or generated trace says alone; they combine as independent
# evidence, 1 - prod(1 - w), so no single one reaches the alert score (0.8) but any two do.
REGULARITY_WEIGHTS = {
    "constant_accuracy": 0.7,  # real receivers report an accuracy that changes with the sky
    "clockwork_intervals": 0.6,  # real fixes arrive with jitter; a replay app ticks exactly
    "constant_speed": 0.5,  # real traffic stops and goes
    "collinear_steps": 0.5,  # real fixes scatter around the road
}


def spoofing_finding(st: list[float], p: SpoofingParams, end_ts: int) -> Finding | None:
    """st: the trip's row of the kinematics state, as plain floats (the evidence is JSON)."""
    signals: dict[str, dict] = {}
    scores = []

    n_mock, n_known = st[K.S_N_MOCK], st[K.S_N_MOCK_KNOWN]
    if n_mock >= p.mock_min_fixes and n_mock / max(n_known, 1.0) >= p.mock_min_fraction:
        frac = n_mock / n_known
        signals["mock_flag"] = {"mock_fixes": int(n_mock), "reported": int(n_known), "fraction": round(frac, 3)}
        scores.append(0.9 + 0.09 * frac)

    hallmarks = {}
    n_dt = st[K.S_DT_N]
    if n_dt >= p.min_samples and st[K.S_DT_REPEAT] / (n_dt - 1) >= p.repeated_interval_fraction:
        hallmarks["clockwork_intervals"] = {
            "repeated_fraction": round(st[K.S_DT_REPEAT] / (n_dt - 1), 3),
            "intervals": int(n_dt),
        }
    acc_std = _std(st[K.S_ACC_N], st[K.S_ACC_SUM], st[K.S_ACC_SUM2])
    if st[K.S_ACC_N] >= p.min_samples and acc_std <= p.constant_accuracy_std_m:
        hallmarks["constant_accuracy"] = {"accuracy_std_m": round(acc_std, 4), "fixes": int(st[K.S_ACC_N])}
    v_n = st[K.S_V_N]
    v_std = _std(v_n, st[K.S_V_SUM], st[K.S_V_SUM2])
    v_mean = st[K.S_V_SUM] / v_n if v_n else math.nan
    if v_n >= p.min_samples and v_mean > 2.0 and v_std / v_mean <= p.constant_speed_cv:
        hallmarks["constant_speed"] = {"speed_cv": round(v_std / v_mean, 4), "mean_speed_mps": round(v_mean, 2)}
    col_n = st[K.S_COL_N]
    if col_n >= p.min_samples and st[K.S_COL_HITS] / col_n >= p.collinear_fraction:
        hallmarks["collinear_steps"] = {"fraction": round(st[K.S_COL_HITS] / col_n, 3), "pairs": int(col_n)}
    if hallmarks:
        signals["too_regular"] = hallmarks
        scores.append(1.0 - math.prod(1.0 - REGULARITY_WEIGHTS[h] for h in hallmarks))

    dev_n = st[K.S_DEV_N]
    if dev_n >= p.device_min_samples:
        contra = st[K.S_DEV_CONTRA] / dev_n
        dev_mean = st[K.S_DEV_SUM] / dev_n
        dev_cv = _std(dev_n, st[K.S_DEV_SUM], st[K.S_DEV_SUM2]) / dev_mean if dev_mean > 0 else 0.0
        pos_cv = v_std / v_mean if v_n >= 2 and v_mean > 0 else 0.0
        if dev_n >= p.min_samples and contra >= p.device_contradiction_fraction:
            signals["device_speed_contradicts_positions"] = {"fraction": round(contra, 3), "checks": int(dev_n)}
            scores.append(0.85 + 0.1 * contra)
        elif dev_mean > 2.0 and dev_cv <= p.device_constant_cv and pos_cv > p.device_constant_position_cv:
            signals["device_speed_constant"] = {
                "device_speed_cv": round(dev_cv, 4),
                "position_speed_cv": round(pos_cv, 3),
                "checks": int(dev_n),
            }
            scores.append(0.85)

    if not scores:
        return None
    score = 1.0 - math.prod(1.0 - s for s in scores)
    if score < p.alert_score:
        return None
    return Finding(
        kind="gps_spoofing",
        score=score,
        ts=int(end_ts),
        evidence={
            "summary": describe(signals),
            "signals": signals,
            "thresholds": params_dict(p),
        },
        detector="spoofing",
        version=VERSION,
        params=params_dict(p),
    )


_HALLMARK_WORDS = {
    "clockwork_intervals": lambda h: f"identical intervals between fixes ({h['repeated_fraction']:.0%})",
    "constant_accuracy": lambda h: f"an unchanging accuracy (spread {h['accuracy_std_m']:.2f} m)",
    "constant_speed": lambda h: f"a constant speed (variation {h['speed_cv']:.2%})",
    "collinear_steps": lambda h: f"steps on a straight line ({h['fraction']:.0%})",
}


def describe(signals: dict) -> str:
    """One sentence per signal, for the reviewer who reads the alert (the numbers stay in `signals`)."""
    parts = []
    if m := signals.get("mock_flag"):
        parts.append(f"the phone flagged {m['mock_fixes']} of {m['reported']} fixes as mock locations")
    if c := signals.get("device_speed_contradicts_positions"):
        parts.append(
            f"the phone's reported speed contradicts the distance between fixes in {c['fraction']:.0%} "
            f"of {c['checks']} checks"
        )
    if c := signals.get("device_speed_constant"):
        parts.append(
            f"the phone reported a near-constant speed (variation {c['device_speed_cv']:.2%}) while the "
            f"positions' speed varied by {c['position_speed_cv']:.0%}"
        )
    if h := signals.get("too_regular"):
        parts.append("the trace is too regular for a phone: " + ", ".join(_HALLMARK_WORDS[k](v) for k, v in h.items()))
    return "; ".join(parts)
