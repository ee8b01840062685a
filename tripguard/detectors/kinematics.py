"""teleport and impossible_speed findings from the kinematics kernel's events."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS, number
from tripguard.detectors import Finding, fixes_between, margin_score, params_dict
from tripguard.kernels import kinematics as K

VERSION = "1.0"
MAX_EVIDENCE_POINTS = 60


@dataclass(frozen=True, config=PARAMS)
class KinematicsParams:
    """data/cities.toml [<city>.kinematics]; see the comments there."""

    # speeds and the thresholds findings are measured against (divisors) above zero
    max_speed_mps: Annotated[float, number(gt=0.0)]
    default_accuracy_m: Annotated[float, number(ge=0.0)]
    coarse_accuracy_m: Annotated[float, number(gt=0.0)]
    teleport_min_m: Annotated[float, number(gt=0.0)]
    confirm_fixes: Annotated[int, Field(ge=1)]
    confirm_s: Annotated[float, number(ge=0.0)]
    warmup_s: Annotated[float, number(ge=0.0)]
    speed_run_min_m: Annotated[float, number(gt=0.0)]
    speed_run_min_s: Annotated[float, number(gt=0.0)]
    speed_run_min_steps: Annotated[int, Field(ge=2)]
    tunnel_gap_s: Annotated[float, number(gt=0.0)]
    suspect_min_mps: Annotated[float, number(gt=0.0)]
    suspect_pace_factor: Annotated[float, number(gt=0.0)]
    teleport_oblique_min_m: Annotated[float, number(gt=0.0)]
    speed_run_direct_steps: Annotated[int, Field(ge=2)]
    suspect_min_m: Annotated[float, number(ge=0.0)]

    def row(self) -> np.ndarray:
        return np.array([float(getattr(self, name)) for name in K.PARAM_NAMES], dtype=np.float64)


def _point(ts: float, lat: float, lon: float, role: str) -> dict:
    return {"role": role, "ts": int(ts), "lat": round(float(lat), 6), "lon": round(float(lon), 6)}


def _event_points(e: np.ndarray) -> list[tuple[float, float, float]]:
    pts = []
    for k in range(K.N_EVENT_POINTS):
        ts, lat, lon = e[K.E_POINTS + 3 * k : K.E_POINTS + 3 * k + 3]
        if not math.isnan(ts):
            pts.append((ts, lat, lon))
    return pts


def teleport_finding(e: np.ndarray, p: KinematicsParams) -> Finding:
    pts = _event_points(e)
    roles = ["anchor", "landing"] + ["after"] * (len(pts) - 2)
    speed = float(e[K.E_SPEED_MPS])
    eff = float(e[K.E_EFF_M])
    margin = min(eff / p.teleport_min_m, speed / p.max_speed_mps)
    return Finding(
        kind="teleport",
        score=margin_score(margin),
        ts=int(e[K.E_TS]),
        evidence={
            "summary": f"jumped {eff / 1000:.2f} km in {e[K.E_DT_S]:.0f} s and stayed there",
            "points": [_point(*pt, role) for pt, role in zip(pts, roles)],
            "jump_m": round(float(e[K.E_DIST_M]), 1),
            "jump_beyond_accuracy_m": round(eff, 1),
            "dt_s": round(float(e[K.E_DT_S]), 3),
            "implied_speed_mps": round(speed, 2),
            "fixes_at_new_place": int(e[K.E_N_FIXES]),
            "thresholds": {
                "max_speed_mps": p.max_speed_mps,
                "teleport_min_m": p.teleport_min_m,
                "confirm_fixes": p.confirm_fixes,
                "confirm_s": p.confirm_s,
                "warmup_s": p.warmup_s,
            },
        },
        detector="kinematics.teleport",
        version=VERSION,
        params=params_dict(p),
    )


def impossible_speed_finding(e: np.ndarray, p: KinematicsParams, path: tuple) -> Finding:
    t0, t1 = e[K.E_POINTS], e[K.E_TS]
    ts, lat, lon, _ = path
    points = [_point(ts[i], lat[i], lon[i], "run") for i in fixes_between(ts, t0, t1, MAX_EVIDENCE_POINTS)]
    if not points:  # the path was not kept (cannot happen in the engine; keep the ends anyway)
        points = [_point(*pt, "run") for pt in _event_points(e)]
    avg = float(e[K.E_SPEED_MPS])
    return Finding(
        kind="impossible_speed",
        score=margin_score(avg / p.max_speed_mps),
        ts=int(t1),
        evidence={
            "summary": f"moved {e[K.E_DIST_M] / 1000:.2f} km in {e[K.E_DT_S]:.0f} s ({avg * 3.6:.0f} km/h)",
            "points": points,
            "distance_m": round(float(e[K.E_DIST_M]), 1),
            "distance_beyond_accuracy_m": round(float(e[K.E_EFF_M]), 1),
            "duration_s": round(float(e[K.E_DT_S]), 3),
            "avg_speed_mps": round(avg, 2),
            "max_step_speed_mps": round(float(e[K.E_MAX_SPEED_MPS]), 2),
            "fast_steps": int(e[K.E_N_FIXES]) - 1,
            "thresholds": {
                "max_speed_mps": p.max_speed_mps,
                "speed_run_min_m": p.speed_run_min_m,
                "speed_run_min_s": p.speed_run_min_s,
                "speed_run_min_steps": p.speed_run_min_steps,
            },
        },
        detector="kinematics.impossible_speed",
        version=VERSION,
        params=params_dict(p),
    )
