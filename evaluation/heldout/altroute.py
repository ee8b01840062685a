"""Honest variety that is not fraud: the driver takes a longer but faster road than the app's plan
(a ring road or an avenue around the centre) and arrives within the ETA.

A stretch of the real trace (from a fix a in the first quarter to a fix b in the last quarter, or
the whole trip) is replaced by an alternative path on the network: either the fastest path once the
plan's own edges are made unattractive, or a path via a node on a fast road (posted >= 50 km/h)
near the stretch. It is accepted when the whole trip becomes 5-40 % longer than the plan and can be
driven, at a pace no road's limit forbids, within 80-98 % of the ETA; the replaced stretch is then
driven in exactly the time that leaves.
"""

from __future__ import annotations

import numpy as np

from evaluation.heldout.compose import Base, Injection, clean_between, replace_stretch
from evaluation.heldout.drive import MAX_OVER_LIMIT
from evaluation.heldout.roads import Roads
from tripguard.simulate.geodesy import haversine_m

LONGER = (1.05, 1.40)  # total distance / planned distance
WITHIN_ETA = (0.80, 0.98)  # total duration / planned duration
FAST_ROAD_MPS = 50.0 / 3.6
PLAN_PENALTY = 4.0
# The stretch must be drivable in its time budget at no more than this share of free-flow speed on
# average (stops included): a car does not hold the limit across a whole stretch.
MAX_FREE_FLOW_SHARE = 0.85
TRIES = 12
EVENT_OVERHEAD_S = 25.0  # trip_started comes before the first fix and trip_ended after the last (generate.py)


def _candidates(rng: np.random.Generator, roads: Roads, na: int, nb: int):
    """Alternative node paths from na to nb."""
    net = roads.net
    penal = roads.eta_s.copy()
    plan_nodes = roads.fastest_nodes(na, nb)
    on_plan = roads.route(plan_nodes).edges
    penal[on_plan] *= PLAN_PENALTY
    yield "avoiding the planned streets", roads.fastest_nodes(na, nb, net.graph(penal))
    alat, alon = roads.node_latlon(na)
    blat, blon = roads.node_latlon(nb)
    mlat, mlon = (alat + blat) / 2.0, (alon + blon) / 2.0
    span = float(haversine_m(alat, alon, blat, blon))
    fast = np.zeros(net.n_nodes, dtype=bool)
    fast[net.edge_u[net.edge_speed_mps >= FAST_ROAD_MPS]] = True
    near = roads.nodes_near(mlat, mlon, max(800.0, 0.6 * span))
    near = near[fast[near] & (near != na) & (near != nb)]
    for w in rng.permutation(near)[:TRIES]:
        yield "via a faster road", roads.nodes_via([na, int(w), nb])


def alternative(rng: np.random.Generator, base: Base, roads: Roads) -> Injection | None:
    plan = base.plan
    if plan is None:
        return None
    tr = base.track
    a_cand = np.r_[0, clean_between(base, 0.05, 0.25)].astype(int)
    b_cand = np.r_[clean_between(base, 0.75, 0.95), tr.n - 1].astype(int)
    for _ in range(3):
        a, b = int(rng.choice(a_cand)), int(rng.choice(b_cand))
        if b <= a + 1:
            continue
        na, _ = roads.net.nearest_node(tr.lat[a], tr.lon[a])
        nb, _ = roads.net.nearest_node(tr.lat[b], tr.lon[b])
        if na == nb:
            continue
        outside_s = tr.t_s[a] + (tr.t_s[-1] - tr.t_s[b])  # time on the real parts kept
        outside_m = base.distance_between(0, a) + base.distance_between(b, tr.n - 1)
        for how, nodes in _candidates(rng, roads, na, nb):
            route = roads.route(nodes)
            total_m = outside_m + route.length_m
            if not LONGER[0] <= total_m / plan.distance_m <= LONGER[1]:
                continue
            budget = plan.duration_s * rng.uniform(*WITHIN_ETA) - outside_s - EVENT_OVERHEAD_S
            if budget <= 0 or budget < roads.free_flow_s(route) / MAX_FREE_FLOW_SHARE:
                continue
            st = replace_stretch(rng, base, roads, a, b, nodes, budget)
            longer = st.true_distance_m / plan.distance_m
            if st.track.duration_s + EVENT_OVERHEAD_S > plan.duration_s or not LONGER[0] <= longer <= LONGER[1]:
                continue
            detail = (
                f"honest alternative route ({how}): +{st.true_distance_m / plan.distance_m - 1:.0%} distance "
                f"over the plan, {st.track.duration_s / plan.duration_s:.0%} of the ETA"
            )
            meta = {"alternative": how, "a": a, "b": b, "alt_m": st.drive_length_m, "max_over_limit": MAX_OVER_LIMIT}
            return Injection(st.track, st.true_distance_m, st.true_distance_m, detail, meta)
    return None
