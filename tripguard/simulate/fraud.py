"""Fraud injection: what a fraudster's trip looks like, one kind per trip.

Kinds are the alert vocabulary of contract v1. GPS kinds rewrite the trace before the honest
noise is added, so the fraud is under the same noise as everything else, its own window
included (a spike or a tunnel gap may land on it, as in the world); fare kinds change the claims
at trip end. Magnitudes span what the world does, not what the detectors were tuned on
(docs/simulate.md): teleports from 0.8 km, fast-forward runs from two fix intervals, detours at
the trip's own irregular pace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tripguard.contract import ALERT_KINDS
from tripguard.simulate.drive import position_on
from tripguard.simulate.geodesy import LocalFrame, bearing_deg, haversine_m
from tripguard.simulate.network import RoadNetwork, Route
from tripguard.simulate.noise import Fixes
from tripguard.simulate.real import REAL_INTERVAL_S, moving_speed_mps, spike_mask
from tripguard.simulate.routes import find_detour
from tripguard.simulate.trace import Path, Trace

KINDS = ALERT_KINDS
FRAUD_START_S = 90.0  # GPS frauds begin at least this far into the trip
TELEPORT_MIN_AFTER_S = 60.0
TELEPORT_M = (800.0, 8000.0)  # log-uniform
# impossible_speed: a fast-forward run of at least two fix intervals at 230-500 km/h, covering
# 1.8-8 km (at 15 s fixes: two intervals of ~1 km each at the slowest)
FAKE_SPEED_MPS = (64.0, 140.0)
RUN_M = (1800.0, 8000.0)
RUN_MIN_STEPS = 2
# route_deviation on real traces: the detour is driven at the trip's own pace, irregularly
DETOUR_PACE_SIGMA = 0.35  # per-step speed: the trip's moving pace x lognormal(0, this)
DETOUR_STOP_SHARE = 0.10  # steps spent (nearly) standing: a light, a queue


class NotEligible(Exception):
    """The trip cannot carry this kind (too short, no planned route, no detour found)."""


@dataclass
class Injection:
    kind: str | None
    detail: str
    trace: Trace
    position_jitter: bool = True
    constant_accuracy_m: float | None = None
    mock_share: float | None = None  # spoofing (a): share of fixes with mock = true
    speed_lie: str | None = None  # spoofing (c): "slow" or "constant"
    speed_lie_value: float = 0.0
    fare_factor: float = 1.0
    distance_factor: float = 1.0
    segment_speed: dict[int, float] = field(default_factory=dict)


def min_duration_s(kind: str | None, interval_s: float) -> float:
    """Shortest trip that fits each GPS kind (fraud start + its window + fixes after it)."""
    if kind == "teleport":
        return FRAUD_START_S + max(6 * interval_s, TELEPORT_MIN_AFTER_S) + 30.0
    if kind == "impossible_speed":
        return FRAUD_START_S + max(RUN_M[0] / FAKE_SPEED_MPS[0], RUN_MIN_STEPS * interval_s) + 4 * interval_s + 60.0
    if kind == "gps_spoofing":
        return max(120.0, 10 * interval_s)
    return max(60.0, 5 * interval_s)


def honest(trace: Trace) -> Injection:
    return Injection(None, "", trace)


def _frame(trace: Trace) -> LocalFrame:
    return LocalFrame(float(np.mean(trace.lat)), float(np.mean(trace.lon)))


def teleport(trace: Trace, rng: np.random.Generator) -> Injection:
    """From a fix >= 90 s into the trip with >= 5 fixes and >= 60 s left, every later fix is
    translated by 0.8-8 km (log-uniform) in a random direction: the trace continues from the new
    place.
    (The 60 s keep a jump near the end confirmable: at 4 s spacing 5 fixes are only 16 s.)"""
    ks = np.flatnonzero(
        (trace.t_s - trace.t_s[0] >= FRAUD_START_S)
        & (np.arange(trace.n) <= trace.n - 5)
        & (trace.t_s[-1] - trace.t_s >= TELEPORT_MIN_AFTER_S)
    )
    if len(ks) == 0:
        raise NotEligible("teleport needs a fix >= 90 s into the trip with 5 fixes and 60 s after it")
    k = int(rng.choice(ks))
    dist = float(np.exp(rng.uniform(*np.log(TELEPORT_M))))
    ang = rng.uniform(0.0, 2.0 * np.pi)
    lat, lon = trace.lat.copy(), trace.lon.copy()
    lat[k:], lon[k:] = _frame(trace).offset(lat[k:], lon[k:], dist * np.sin(ang), dist * np.cos(ang))
    detail = (
        f"from fix {k} (t+{trace.t_s[k]:.0f} s) every fix moved {dist:.0f} m toward {np.degrees(ang) % 360:.0f} deg"
    )
    return Injection("teleport", detail, trace.with_(lat=lat, lon=lon))


def impossible_speed(trace: Trace, rng: np.random.Generator) -> Injection:
    """A fast-forward run >= 90 s into the trip: for at least two fix intervals the reported
    position races ahead along the path (straight on in the direction of travel where the path
    winds too much to keep the speed) at 64-140 m/s, covering 1.8-8 km. Afterwards the trace
    carries on from where the run ended, in one of two ways (half each): the rest of the real
    trace from the point of the path the run reached ("skip": the fixes it raced past are gone),
    or every later fix shifted by the run's gain ("shift")."""
    dt = float(np.median(np.diff(trace.t_s)))
    v = float(rng.uniform(*FAKE_SPEED_MPS))
    lo = max(RUN_MIN_STEPS, int(np.ceil(RUN_M[0] / (v * dt))))
    hi = max(lo, int(RUN_M[1] // (v * dt)))
    steps = int(rng.integers(lo, hi + 1))
    skip = rng.random() < 0.5
    run_m = v * dt * steps
    room = (trace.t_s - trace.t_s[0] >= FRAUD_START_S) & (np.arange(trace.n) + steps + 3 <= trace.n - 1)
    # to skip ahead, the run must end on the path with fixes after it; else shift the rest
    on_path = room & (trace.s_m + run_m <= trace.s_m[-1] - 100.0)
    skip = skip and bool(on_path.any())
    ks = np.flatnonzero(on_path if skip else room)
    if len(ks) == 0:
        raise NotEligible("impossible_speed needs >= 90 s, a run of >= 2 fix intervals and fixes after it")
    k = int(rng.choice(ks))
    end = k + steps
    seg_t = trace.t_s[k + 1 : end + 1] - trace.t_s[k]
    frame = _frame(trace)
    lat_p, lon_p, brg_p = position_on(trace.path.lat, trace.path.lon, trace.path.s_m, trace.s_m[k] + v * seg_t)
    plat = np.concatenate([[trace.lat[k]], lat_p])
    plon = np.concatenate([[trace.lon[k]], lon_p])
    chord = haversine_m(plat[:-1], plon[:-1], plat[1:], plon[1:]) / np.diff(np.concatenate([[0.0], seg_t]))
    how = "along the path"
    if chord.min() < 0.9 * v:
        # a winding path would bring the chord speed far under v: straight on in the direction of
        # travel (the heading from fix k to the path 300 m ahead)
        skip = False
        alat, alon, _ = position_on(trace.path.lat, trace.path.lon, trace.path.s_m, np.array([trace.s_m[k] + 300.0]))
        heading = float(bearing_deg(trace.lat[k], trace.lon[k], alat[0], alon[0]))
        if haversine_m(trace.lat[k], trace.lon[k], alat[0], alon[0]) < 50.0:
            heading = float(trace.bearing_deg[k])
        rad = np.radians(heading)
        lat_p, lon_p = frame.offset(trace.lat[k], trace.lon[k], v * seg_t * np.sin(rad), v * seg_t * np.cos(rad))
        brg_p = np.full(len(seg_t), heading % 360.0)
        how = f"straight on toward {heading:.0f} deg"
    run_lat = np.concatenate([trace.lat[: k + 1], lat_p])
    run_lon = np.concatenate([trace.lon[: k + 1], lon_p])
    run_t = trace.t_s[: end + 1]
    run_brg = np.concatenate([trace.bearing_deg[: k + 1], brg_p])
    run_speed = trace.speed_mps[: end + 1].copy()
    if skip:
        # the rest of the trace from the first fix at or beyond the path position reached
        m = int(np.searchsorted(trace.s_m, trace.s_m[k] + v * seg_t[-1]))
        t_rest = trace.t_s[m:] - trace.t_s[m] + trace.t_s[end] + dt
        lat = np.concatenate([run_lat, trace.lat[m:]])
        lon = np.concatenate([run_lon, trace.lon[m:]])
        t = np.concatenate([run_t, t_rest])
        brg = np.concatenate([run_brg, trace.bearing_deg[m:]])
        speed = np.concatenate([run_speed, trace.speed_mps[m:]])
        s_m = np.concatenate([trace.s_m[: k + 1], trace.s_m[k] + v * seg_t, trace.s_m[m:]])
        after = f"then the trace from the path {trace.s_m[m] - trace.s_m[k]:.0f} m ahead ({m - end - 1} fixes skipped)"
        new = trace.with_(
            t_s=t,
            lat=lat,
            lon=lon,
            bearing_deg=brg,
            speed_mps=speed,
            s_m=np.maximum.accumulate(s_m),
            duration_s=float(t[-1]) + max(trace.duration_s - float(trace.t_s[-1]), 0.0),
        )
    else:
        x_true, y_true = frame.to_xy(trace.lat[end], trace.lon[end])
        x_rep, y_rep = frame.to_xy(lat_p[-1], lon_p[-1])
        lat_r, lon_r = frame.offset(trace.lat[end + 1 :], trace.lon[end + 1 :], x_rep - x_true, y_rep - y_true)
        lat = np.concatenate([run_lat, lat_r])
        lon = np.concatenate([run_lon, lon_r])
        brg = np.concatenate([run_brg, trace.bearing_deg[end + 1 :]])
        after = f"later fixes shifted {float(np.hypot(x_rep - x_true, y_rep - y_true)):.0f} m"
        new = trace.with_(lat=lat, lon=lon, bearing_deg=brg)
    detail = (
        f"fixes {k + 1}-{end} ({seg_t[-1]:.0f} s from t+{trace.t_s[k]:.0f} s, {steps} intervals) advance {how} "
        f"at {v:.0f} m/s; {after}"
    )
    inj = Injection("impossible_speed", detail, new)
    # The fake position's app reports a speed consistent with it (no spoofing signal mixed in).
    inj.segment_speed = {i: v for i in range(k + 1, end + 1)}
    return inj


def gps_spoofing(trace: Trace, rng: np.random.Generator, planned: Route | None, interval_s: float) -> Injection:
    """One or two of: (a) OS mock flag on most fixes; (b) the whole trace replaced by a GPX
    replay: constant speed along the planned route, exact timestamps, no jitter, constant
    accuracy; (c) device speed contradicting the positions (0-2 m/s while moving, or constant)."""
    n_modes = 2 if rng.random() < 0.4 else 1
    modes = sorted(rng.choice(["a", "b", "c"], size=n_modes, replace=False).tolist())
    parts = []
    inj = Injection("gps_spoofing", "", trace)
    if "b" in modes:
        path = Path(planned.lat, planned.lon, planned.s_m) if planned is not None else trace.path
        duration = trace.duration_s
        # The replay starts one interval after the pickup, on the app's exact clock.
        t = np.arange(interval_s, duration + 1e-9, interval_s)
        if len(t) < 2:
            t = np.array([interval_s, 2 * interval_s])
        v = path.length_m / t[-1]
        lat, lon, brg = position_on(path.lat, path.lon, path.s_m, np.minimum(v * t, path.length_m))
        acc = float(rng.choice([3.0, 4.0, 5.0, 8.0, 10.0]))
        inj.trace = Trace(
            t_s=t,
            lat=lat,
            lon=lon,
            s_m=np.minimum(v * t, path.length_m),
            speed_mps=np.full(len(t), v),
            bearing_deg=brg,
            path=path,
            duration_s=float(t[-1]),
            true_distance_m=path.length_m,
            real=False,
            regular=True,
        )
        inj.position_jitter = False
        inj.constant_accuracy_m = acc
        parts.append(
            f"(b) GPX replay of the {'planned route' if planned is not None else 'trace'} at a constant "
            f"{v:.1f} m/s, fixes exactly every {interval_s:g} s, accuracy {acc:g} m, no jitter"
        )
    if "a" in modes:
        inj.mock_share = float(rng.uniform(0.8, 1.0))
        parts.append(f"(a) mock flag on {100 * inj.mock_share:.0f} % of fixes")
    if "c" in modes:
        fast = int(np.sum(inj.trace.speed_mps >= 10.0))
        if fast >= 3 and rng.random() < 0.7:
            inj.speed_lie = "slow"
            parts.append(f"(c) device speed 0-2 m/s while moving ({fast} fixes at >= 10 m/s)")
        else:
            inj.speed_lie = "constant"
            inj.speed_lie_value = round(float(rng.uniform(5.0, 15.0)), 1)
            parts.append(f"(c) device speed constant {inj.speed_lie_value} m/s")
    inj.detail = "; ".join(parts)
    return inj


def apply_device_lies(fixes: Fixes, inj: Injection, rng: np.random.Generator) -> None:
    """Spoofing fields written after the noise (the noise does not touch what the OS reports)."""
    if inj.mock_share is not None:
        fixes.mock[:] = np.where(rng.random(fixes.n) < inj.mock_share, 1, 0)
    if inj.speed_lie == "slow":
        fixes.speed_mps[:] = rng.uniform(0.0, 2.0, fixes.n)
    elif inj.speed_lie == "constant":
        fixes.speed_mps[:] = inj.speed_lie_value


def real_detour(trace: Trace, net: RoadNetwork, planned: Route | None, rng: np.random.Generator) -> Injection:
    """route_deviation on a real trace: between two of its fixes the driver leaves for a
    waypoint 0.8-3 km off the planned route (road path on the network) and comes back; the
    fixes in between are synthesized along that path 15 s apart at the trip's own pace, driven
    irregularly (each interval at the trip's moving pace x lognormal(0, 0.35), one in ten nearly
    standing), and the rest of the real trace follows, later."""
    if planned is None:
        raise NotEligible("route_deviation needs a planned route")
    n = trace.n
    if n < 6:
        raise NotEligible("route_deviation needs >= 6 fixes")
    near = net.distance_to_road_m(trace.lat, trace.lon) < 150.0
    pace = max(moving_speed_mps(trace), 4.0)
    dt = REAL_INTERVAL_S
    for _ in range(12):
        i = int(rng.integers(1, n - 3))
        j = int(rng.integers(i + 1, min(i + 10, n - 1)))
        if not (near[i] and near[j]):
            continue
        a, a_m = net.nearest_node(float(trace.lat[i]), float(trace.lon[i]))
        b, b_m = net.nearest_node(float(trace.lat[j]), float(trace.lon[j]))
        if a == b or a_m > 200.0 or b_m > 200.0:
            continue
        replaced_m = float(trace.s_m[j] - trace.s_m[i])
        need_m = 0.25 * trace.true_distance_m + replaced_m - a_m - b_m
        detour = find_detour(
            net, rng, a, b, trace.path.lat, trace.path.lon, planned.lat, planned.lon, min_length_m=need_m, tries=15
        )
        if detour is None:
            continue
        geo = Path.of(
            np.concatenate([[trace.lat[i]], detour.route.lat, [trace.lat[j]]]),
            np.concatenate([[trace.lon[i]], detour.route.lon, [trace.lon[j]]]),
        )
        step_mps = _irregular_pace(rng, pace, int(np.ceil(geo.length_m / (0.3 * pace * dt))) + 2)
        cum = np.cumsum(step_mps * dt)
        steps = max(int(np.searchsorted(cum, geo.length_m)) + 1, 2)
        s_new = np.minimum(cum[: steps - 1], geo.length_m)
        lat_n, lon_n, brg_n = position_on(geo.lat, geo.lon, geo.s_m, s_new)
        t_new = trace.t_s[i] + dt * np.arange(1, steps)
        shift = trace.t_s[i] + dt * steps - trace.t_s[j]
        added_m = geo.length_m - replaced_m
        lat = np.concatenate([trace.lat[: i + 1], lat_n, trace.lat[j:]])
        lon = np.concatenate([trace.lon[: i + 1], lon_n, trace.lon[j:]])
        t = np.concatenate([trace.t_s[: i + 1], t_new, trace.t_s[j:] + shift])
        speed = np.concatenate([trace.speed_mps[: i + 1], step_mps[: steps - 1], trace.speed_mps[j:]])
        brg = np.concatenate([trace.bearing_deg[: i + 1], brg_n, trace.bearing_deg[j:]])
        keep = ~spike_mask(lat, lon)
        path = Path.of(lat[keep], lon[keep])
        s = np.interp(t, t[keep], path.s_m)
        new = trace.with_(
            t_s=t,
            lat=lat,
            lon=lon,
            s_m=s,
            speed_mps=speed,
            bearing_deg=brg,
            path=path,
            duration_s=trace.duration_s + shift,
            true_distance_m=trace.true_distance_m + added_m,
        )
        detail = (
            f"between real fixes {i} and {j}: detour via a waypoint {detour.off_route_m:.0f} m off the planned route, "
            f"{len(t_new)} synthesized fixes, +{added_m:.0f} m (+{100 * added_m / max(trace.true_distance_m, 1.0):.0f} %)"
        )
        return Injection("route_deviation", detail, new)
    raise NotEligible("no detour found near this trace")


def _irregular_pace(rng: np.random.Generator, pace_mps: float, n: int) -> np.ndarray:
    """Speeds of n consecutive intervals of a car driven at pace_mps through city traffic."""
    v = pace_mps * rng.lognormal(0.0, DETOUR_PACE_SIGMA, n)
    standing = rng.random(n) < DETOUR_STOP_SHARE
    v[standing] = rng.uniform(0.0, 2.0, int(standing.sum()))
    return np.maximum(v, 0.0)


def fare_inflation(trace: Trace, rng: np.random.Generator) -> Injection:
    inj = honest(trace)
    inj.kind = "fare_inflation"
    inj.fare_factor = float(rng.uniform(1.15, 1.8))
    inj.detail = f"claimed fare x{inj.fare_factor:.2f}"
    return inj


def distance_mismatch(trace: Trace, rng: np.random.Generator) -> Injection:
    inj = honest(trace)
    inj.kind = "distance_mismatch"
    inj.distance_factor = float(rng.uniform(1.3, 2.0))
    inj.detail = f"claimed distance x{inj.distance_factor:.2f}"
    return inj
