"""The fraud kinds that manipulate the GPS trace: impossible_speed, teleport, route_deviation and
gps_spoofing. Each takes a Base (a real trip) and returns an Injection, or None when the trip
cannot carry that kind (too short, no planned route, no road to race along); the caller then
tries another trip. `variant` is how many trips of the kind were made before: it alternates the
discrete choices so they come in equal numbers; continuous magnitudes are drawn from rng. `relaxed`
(used only when no trip is left that fits the variant) lets the choice fall back to one that fits.
"""

from __future__ import annotations

import numpy as np

from evaluation.heldout import drive
from evaluation.heldout.compose import Base, Injection, clean_between, loguniform, replace_stretch
from evaluation.heldout.porto import SAMPLING_S
from evaluation.heldout.roads import Line, Roads
from evaluation.heldout.track import Track, offset_latlon, synthetic_track
from tripguard.simulate.geodesy import LocalFrame, bearing_deg, haversine_m
from tripguard.simulate.network import point_to_polyline_m

# ---------------------------------------------------------------- impossible_speed
RUN_STEPS = (2, 8)  # intervals in the run, uniform
# Straight-line distance of each run step in one 15 s interval, log-uniform: 1150 m is > 64 m/s
# (230 km/h) even with the honest timestamp jitter (at most +-1 s per fix); 1500 m is 360 km/h.
# The run's gain is then 2.3 km (2 steps) to 12 km (8 steps).
RUN_STEP_M = (1150.0, 1500.0)
SEARCH_STEP_M = 10.0
RUN_MAX_TURN_DEG = 60.0
RUN_MAX_WINDING = 1.8  # road distance of a run step / its straight line: the run follows a road, not a maze
RUN_TRIES = 12


def _first_s_with_chord(line: Line, s_from: float, lat0: float, lon0: float, chord_m: float) -> float | None:
    """Smallest s >= s_from on `line` whose point is at least chord_m (straight line) from (lat0, lon0),
    within RUN_MAX_WINDING * chord_m of road."""
    grid = np.arange(s_from, min(line.length_m, s_from + RUN_MAX_WINDING * chord_m) + SEARCH_STEP_M, SEARCH_STEP_M)
    lat, lon = line.at(grid)
    ok = np.flatnonzero(haversine_m(lat, lon, lat0, lon0) >= chord_m)
    return float(grid[ok[0]]) if len(ok) else None


def extension_line(
    roads: Roads, rng: np.random.Generator, lat: float, lon: float, heading: float, min_m: float
) -> Line | None:
    """A road onward from (lat, lon), at least min_m long, that leaves in the direction `heading` and
    keeps going away (no U-turn back past the start): where a position shifted ahead along the road
    goes once it passes the real dropoff."""
    net = roads.net
    d = haversine_m(net.node_lat, net.node_lon, lat, lon)
    brg = bearing_deg(lat, lon, net.node_lat, net.node_lon)
    off = np.abs((brg - heading + 180.0) % 360.0 - 180.0)
    cand = np.flatnonzero((d >= 0.7 * min_m) & (d <= min_m + 3000.0) & (off <= 60.0))
    if len(cand) == 0:
        return None
    src, _ = net.nearest_node(lat, lon)
    for dst in rng.choice(cand, size=min(8, len(cand)), replace=False):
        route = roads.route(roads.fastest_nodes(src, int(dst)))
        if route.length_m < min_m or route.length_m > 1.6 * d[dst]:
            continue
        away = haversine_m(route.lat, route.lon, lat, lon)
        if np.all(away[route.s_m > 300.0] > 150.0):  # never comes back near where it started
            return Line(np.r_[lat, route.lat], np.r_[lon, route.lon])
    return None


def _forward(lat: np.ndarray, lon: np.ndarray) -> bool:
    """The run's successive steps keep one direction (each turns less than RUN_MAX_TURN_DEG from the
    previous): it races ahead, unlike a multipath spike, which jumps out and back."""
    frame = LocalFrame(float(lat[0]), float(lon[0]))
    x, y = frame.to_xy(lat, lon)
    dx, dy = np.diff(x), np.diff(y)
    norm = np.hypot(dx, dy)
    cos = (dx[:-1] * dx[1:] + dy[:-1] * dy[1:]) / np.maximum(norm[:-1] * norm[1:], 1e-9)
    return bool(np.all(cos >= np.cos(np.radians(RUN_MAX_TURN_DEG))))


def _run_resume(rng, base: Base, k: int, steps: np.ndarray):
    """Run from fix k along the real path, then the real fixes from where the run got to."""
    tr, line, m = base.track, base.line, len(steps)
    s, plat, plon = base.s_fix[k], tr.lat[k], tr.lon[k]
    run_s = []
    for c in steps:
        s = _first_s_with_chord(line, s, plat, plon, c)
        if s is None or s > line.length_m - 100.0:
            return None
        plat, plon = (float(v) for v in line.at(s))
        run_s.append(s)
    run_s = np.asarray(run_s)
    lat, lon = line.at(run_s)
    if not _forward(np.r_[tr.lat[k], lat], np.r_[tr.lon[k], lon]):
        return None
    after = np.flatnonzero(base.s_fix > run_s[-1] + 1.0)
    after = after[after > k]
    if len(after) < 2:
        return None
    i_star = int(after[0])
    ex, ey = drive.gps_error_m(rng, m)
    lat, lon = offset_latlon(lat, lon, ex, ey)
    t_run = tr.t_s[k] + SAMPLING_S * np.arange(1, m + 1)
    # the phone's own speed sensor still reads the car's speed: only the position is fast-forwarded
    run = synthetic_track(t_run, lat, lon, np.full(m, tr.speed_mps[k]), line.heading_deg(run_s))
    rest = tr.take(np.arange(i_star, tr.n))
    rest.t_s = rest.t_s - rest.t_s[0] + t_run[-1] + SAMPLING_S
    out = Track.concat(tr.take(np.arange(0, k + 1)), run, rest)
    gain_m = float(run_s[-1] - base.s_fix[k])
    # the GPS shows the same road, only faster: the driven and shown distances agree
    true_m = base.distance_between(0, k) + gain_m + base.distance_between(i_star, tr.n - 1)
    return out, gain_m, true_m, true_m


def _run_shift(rng, base: Base, k: int, steps: np.ndarray, line: Line):
    """Run from fix k, then every later fix where the car really is, shifted ahead along the road
    (`line`: the real path extended beyond the dropoff) by the run's gain."""
    tr, m = base.track, len(steps)
    later = np.arange(k + 1, tr.n)
    gains = np.zeros(len(later))
    g, plat, plon = 0.0, tr.lat[k], tr.lon[k]
    for j, c in enumerate(steps, start=1):  # each run fix at least c (straight line) beyond the previous
        s = _first_s_with_chord(line, base.s_fix[k + j] + g, plat, plon, c)
        if s is None:
            return None
        g = s - base.s_fix[k + j]
        gains[j - 1] = g
        plat, plon = (float(v) for v in line.at(s))
    gains[m:] = g
    if base.s_fix[-1] + g > line.length_m:
        return None
    lat, lon = line.at(base.s_fix[later] + gains)
    if not _forward(np.r_[tr.lat[k], lat[:m]], np.r_[tr.lon[k], lon[:m]]):
        return None
    ex, ey = drive.gps_error_m(rng, len(later))
    lat, lon = offset_latlon(lat, lon, ex, ey)
    out = tr.take(np.arange(tr.n))
    out.lat[later], out.lon[later] = lat, lon
    out.synthetic[later] = True
    return out, float(g), base.true_distance_m, base.true_distance_m + float(g)


def impossible_speed(
    rng: np.random.Generator, variant: int, base: Base, roads: Roads, relaxed: bool = False
) -> Injection | None:
    """A fast-forward run of m intervals (2..8, cycled by variant) along the road ahead, each step
    1150-1500 m straight-line (log-uniform) in one 15 s interval, in one direction. Then, alternately
    (variant):
    'resume': the rest of the real trace from the point the run reached (the trip gets shorter);
    'shift' : the real trace carried on, shifted ahead along the road by the run's gain (the GPS
              shows a longer trip; the road beyond the real dropoff comes from the network)."""
    mode = ("resume", "shift")[variant % 2]
    # the run length cycles too: long runs fit fewer trips, and drawing it would favour short ones
    m = RUN_STEPS[0] + (variant // 2) % (RUN_STEPS[1] - RUN_STEPS[0] + 1)
    tries = [(mode, m)]
    if relaxed:
        other = "shift" if mode == "resume" else "resume"
        tries = [(md, k) for md in (mode, other) for k in range(m, RUN_STEPS[0] - 1, -1)]
    for md, k in tries:
        made = _impossible_speed(rng, md, k, base, roads)
        if made is not None:
            return made
    return None


def _impossible_speed(rng: np.random.Generator, mode: str, m: int, base: Base, roads: Roads) -> Injection | None:
    tr = base.track
    chord = loguniform(rng, *RUN_STEP_M)
    gain = m * chord  # at least; the road between the fixes is longer than the straight line
    cand = [
        int(k) for k in base.keep if k >= 2 and tr.t_s[k] >= 30.0 and tr.speed_mps[k] > 2.0 and k + m + 2 <= tr.n - 1
    ]
    if mode == "resume":
        cand = [k for k in cand if base.s_fix[-1] - base.s_fix[k] >= gain + 300.0]
    line = None
    if mode == "shift" and cand:
        last = int(base.keep[-1])
        last_heading = float(base.line.heading_deg(base.line.length_m - 1.0))
        head = float(np.nan_to_num(tr.bearing_deg[last], nan=last_heading))
        ext = extension_line(roads, rng, tr.lat[last], tr.lon[last], head, gain * 1.6 + 500.0)
        line = Line.join(base.line, ext) if ext is not None else None
        if line is None:
            return None
    for k in rng.permutation(cand)[:RUN_TRIES]:
        k = int(k)
        steps = np.clip(chord * rng.uniform(0.93, 1.07, m), *RUN_STEP_M)
        made = _run_resume(rng, base, k, steps) if mode == "resume" else _run_shift(rng, base, k, steps, line)
        if made is None:
            continue
        out, gain_m, true_m, gps_m = made
        out.protected[k : k + m + 1] = True
        t_k = float(out.t_s[k])
        detail = f"impossible_speed {mode}: {m} intervals from +{t_k:.0f}s, gain {gain_m:.0f} m along the road"
        meta = {"mode": mode, "run_start_index": k, "run_steps": m, "gain_m": gain_m, "run_start_t_s": t_k}
        return Injection(out, true_m, gps_m, detail, meta)
    return None


# ---------------------------------------------------------------- teleport
TELEPORT_M = (800.0, 8000.0)
TELEPORT_MIN_BEFORE_S = 90.0
TELEPORT_MIN_AFTER_S = 60.0


def teleport(
    rng: np.random.Generator, variant: int, base: Base, roads: Roads, relaxed: bool = False
) -> Injection | None:
    """At one fix (>= 90 s into the trip, >= 60 s before its end) the position jumps 0.8-8 km
    (log-uniform) in a uniformly random direction, and every later fix carries the same offset."""
    tr = base.track
    keep = set(int(i) for i in base.keep)
    end = tr.t_s[-1]
    cand = [
        j
        for j in range(1, tr.n - 1)
        if j in keep
        and (j - 1) in keep
        and tr.t_s[j] >= TELEPORT_MIN_BEFORE_S
        and end - tr.t_s[j] >= TELEPORT_MIN_AFTER_S
    ]
    if not cand:
        return None
    j = int(rng.choice(cand))
    dist = loguniform(rng, *TELEPORT_M)
    ang = rng.uniform(0.0, 2.0 * np.pi)
    east, north = dist * np.sin(ang), dist * np.cos(ang)
    out = tr.take(np.arange(tr.n))
    frame = LocalFrame(float(tr.lat[j]), float(tr.lon[j]))
    out.lat[j:], out.lon[j:] = frame.offset(tr.lat[j:], tr.lon[j:], east, north)
    out.protected[max(0, j - 1) : j + 2] = True
    before = float(haversine_m(tr.lat[j - 1], tr.lon[j - 1], tr.lat[j], tr.lon[j]))
    jump = float(haversine_m(out.lat[j - 1], out.lon[j - 1], out.lat[j], out.lon[j]))
    detail = f"teleport at +{tr.t_s[j]:.0f}s: {dist:.0f} m towards {np.degrees(ang) % 360:.0f} deg, kept to the end"
    meta = {"index": j, "t_s": float(tr.t_s[j]), "offset_m": dist, "east_m": east, "north_m": north}
    return Injection(out, base.true_distance_m, base.true_distance_m + jump - before, detail, meta)


# ---------------------------------------------------------------- route_deviation
DETOUR_OFF_M = (800.0, 3000.0)
DETOUR_MIN_EXTRA = 0.25
DETOUR_TRIES = 25
DETOUR_MAX_FREE_FLOW = 0.75


def _stratum(rng: np.random.Generator, variant: int, lo: float, hi: float, bins: int = 4) -> float:
    """Log-uniform within the variant's bin of [lo, hi]: far waypoints fit fewer trips, so a plain
    draw would under-represent them among the trips made."""
    edges = np.exp(np.linspace(np.log(lo), np.log(hi), bins + 1))
    b = variant % bins
    return loguniform(rng, edges[b], edges[b + 1])


def route_deviation(
    rng: np.random.Generator, variant: int, base: Base, roads: Roads, relaxed: bool = False
) -> Injection | None:
    """The driver leaves the real trace at a fix a (10-40 % into the trip), drives on the network to
    a waypoint 0.8-3 km off the planned route (log-uniform, stratified by variant), then to a fix b
    (60-90 %), and carries on with the real trace. The detour adds >= 25 % distance over both the
    real trip and the plan and is driven at the trip's own average pace (at most 75 % of the detour's
    free-flow speed), irregularly (speed varying, stops at junctions)."""
    plan = base.plan
    if plan is None:
        return None
    a_cand, b_cand = clean_between(base, 0.10, 0.40), clean_between(base, 0.60, 0.90)
    a_cand, b_cand = a_cand[a_cand >= 1], b_cand
    if len(a_cand) == 0 or len(b_cand) == 0:
        return None
    tr = base.track
    pl = roads.route_line(plan.route)
    need = (1.0 + DETOUR_MIN_EXTRA) * max(base.true_distance_m, plan.distance_m)
    for _ in range(DETOUR_TRIES):
        a, b = int(rng.choice(a_cand)), int(rng.choice(b_cand))
        if b <= a + 1:
            continue
        s_mid = rng.uniform(0.3, 0.7) * pl.length_m
        mlat, mlon = (float(v) for v in pl.at(s_mid))
        head = float(pl.heading_deg(s_mid)) + rng.choice([-90.0, 90.0])
        off = loguniform(rng, *DETOUR_OFF_M) if relaxed else _stratum(rng, variant, *DETOUR_OFF_M)
        frame = LocalFrame(mlat, mlon)
        wlat, wlon = frame.offset(mlat, mlon, off * np.sin(np.radians(head)), off * np.cos(np.radians(head)))
        w, _ = roads.net.nearest_node(float(wlat), float(wlon))
        w_lat, w_lon = roads.node_latlon(w)
        w_off = point_to_polyline_m(LocalFrame(w_lat, w_lon), w_lat, w_lon, plan.route.lat, plan.route.lon)
        if not DETOUR_OFF_M[0] <= w_off <= DETOUR_OFF_M[1]:
            continue
        na, _ = roads.net.nearest_node(tr.lat[a], tr.lon[a])
        nb, _ = roads.net.nearest_node(tr.lat[b], tr.lon[b])
        if len({na, nb, w}) < 3:
            continue
        nodes = roads.nodes_via([na, w, nb])
        # the trip's own pace, stops included; but city streets limit a fast (motorway) driver: never
        # quicker than DETOUR_MAX_FREE_FLOW of the detour's free-flow speed, so it stays irregular
        route = roads.route(nodes)
        duration = max(route.length_m / base.pace_mps, roads.free_flow_s(route) / DETOUR_MAX_FREE_FLOW)
        st = replace_stretch(rng, base, roads, a, b, nodes, duration)
        if st.true_distance_m < need or st.track.duration_s <= tr.duration_s:
            continue
        extra = st.true_distance_m / plan.distance_m - 1
        detail = (
            f"route_deviation: waypoint {w_off:.0f} m off the plan, +{extra:.0%} "
            f"over the plan, +{st.track.duration_s - tr.duration_s:.0f}s; meter on the longer drive"
        )
        meta = {
            "waypoint": [w_lat, w_lon],
            "waypoint_off_plan_m": w_off,
            "a": a,
            "b": b,
            "detour_m": st.drive_length_m,
            "replaced_m": st.replaced_m,
            "detour_free_flow_s": roads.free_flow_s(route),
        }
        return Injection(st.track, st.true_distance_m, st.true_distance_m, detail, meta)
    return None


# ---------------------------------------------------------------- gps_spoofing
# What gives a spoofing app away. Each spoofed trip has one main tell (cycled, so all are equally
# common) and each other tell with EXTRA_TELL_P.
TELLS = ("mock_flag", "regular_timing", "constant_speed", "constant_accuracy", "speed_contradiction")
EXTRA_TELL_P = 0.3
APP_SPEED_MPS = (6.0, 14.0)  # the app's chosen pace: 22-50 km/h


def spoof(rng: np.random.Generator, variant: int, base: Base, roads: Roads, relaxed: bool = False) -> Injection | None:
    """A fake ride made by an app: positions interpolated along the planned route (or the trace's own
    path without a plan) from pickup to dropoff, at the app's speed profile and on the app's clock.
    The car is not driving it. Tells (see TELLS) are written into the track's app dict; the noise and
    delivery stages honour them."""
    tr = base.track
    if base.plan is not None:  # from the booked pickup, along the plan, to the booked dropoff
        r = base.plan.route
        line = Line(np.r_[tr.lat[0], r.lat, tr.lat[-1]], np.r_[tr.lon[0], r.lon, tr.lon[-1]])
        path = "planned route"
    else:
        line = base.line
        path = "trace's own path"
    if line.length_m < 300.0:
        return None
    main = TELLS[variant % len(TELLS)]
    tells = [main] + [t for t in TELLS if t != main and rng.random() < EXTRA_TELL_P]
    v = rng.uniform(*APP_SPEED_MPS)
    regular = "regular_timing" in tells
    interval = float(rng.choice([15.0, 10.0, 5.0])) if regular else SAMPLING_S
    duration = line.length_m / v
    if "constant_speed" in tells:
        rel = np.arange(0.0, duration + 1e-9, interval)
        s = np.minimum(v * rel, line.length_m)
        speed = np.full(len(rel), v)
    else:  # an app that simulates traffic: varying speed and stops, at the chosen mean pace
        k = max(1, int(line.length_m // 100.0))
        prof = drive.irregular_profile(
            rng, np.full(k, line.length_m / k), np.full(k, v / 0.6), rng.random(k) < 0.3, duration
        )
        rel = np.arange(0.0, prof.duration_s + 1e-9, interval)
        s = prof.s_at(rel)
        speed = prof.speed_at(rel)
    if rel[-1] < duration - 1.0:  # end exactly at the dropoff
        rel, s, speed = np.r_[rel, rel[-1] + interval], np.r_[s, line.length_m], np.r_[speed, speed[-1]]
    lat, lon = line.at(s)
    sigma = float(rng.choice([0.0, 2.0, 4.0, 6.0]))  # white noise (or none): apps do not model drift
    if sigma > 0:
        frame = LocalFrame(float(lat[0]), float(lon[0]))
        lat, lon = frame.offset(lat, lon, rng.normal(0, sigma, len(s)), rng.normal(0, sigma, len(s)))
    app = {"tells": tells, "interval_s": interval, "exact_timing": regular, "jitter_sigma_m": sigma}
    reported = speed.copy()
    if "speed_contradiction" in tells:
        how = ("zero", "frozen", "scaled")[int(rng.integers(3))]
        if how == "zero":
            reported[:] = 0.0
        elif how == "frozen":
            reported[:] = rng.uniform(0.5, 3.0)
        else:
            reported = speed * rng.uniform(2.5, 4.0)
        app["speed_mode"] = how
    if "constant_accuracy" in tells:
        app["accuracy_m"] = float(rng.choice([3.0, 4.0, 5.0, 8.0, 10.0, 16.0]))
    if "mock_flag" in tells:
        app["mock_share"] = float(rng.uniform(0.7, 1.0))
    out = synthetic_track(rel, lat, lon, reported, line.heading_deg(s))
    out.app = app
    out.app["speed_reported"] = True  # an app that fakes a ride fills the speed field
    detail = f"gps_spoofing along the {path} at {v * 3.6:.0f} km/h, every {interval:.0f}s; tells: {', '.join(tells)}"
    meta = {"path": path, "app_speed_mps": v, **app}
    return Injection(out, 0.0, line.length_m, detail, meta)
