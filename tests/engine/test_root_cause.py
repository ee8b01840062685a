"""What a reviewer reads on one trip: one root cause, and a GPS distance that noise does not inflate.

Trips are built by hand (15 s fixes, as in the real Porto data) and run through the Engine as
`replay` and `run` do."""

from __future__ import annotations

import math

import numpy as np

from tests.streams import build_batches
from tripguard.config.settings import Settings
from tripguard.engine.core import Engine

T0 = 1_717_398_000_000
M_PER_DEG = 111_195.0


def _track(n: int, speed_mps: float, lat0: float = 41.15, lon0: float = -8.62, dt_s: float = 15.0, seed: int = 0):
    """n fixes driving north at about speed_mps, with a phone's irregularity (a trace too regular
    is a spoofing hallmark): jittered clock, varying pace, a few metres of lateral wander."""
    rng = np.random.default_rng(seed)
    steps = speed_mps * dt_s * rng.uniform(0.6, 1.4, n)
    steps[0] = 0.0
    north = np.cumsum(steps)
    wander = rng.normal(0.0, 4.0, n)
    ts = T0 + 5_000 + (np.arange(n) * dt_s * 1000 + rng.integers(-200, 200, n)).astype(np.int64)
    return [(int(t), float(lat0 + y / M_PER_DEG), float(lon0 + _east(lat0, x))) for t, y, x in zip(ts, north, wander)]


def _length_m(fixes) -> float:
    from tripguard.kernels.geo import haversine_m_np

    lat = np.array([f[1] for f in fixes])
    lon = np.array([f[2] for f in fixes])
    return float(haversine_m_np(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum())


def _east(lat: float, metres: float) -> float:
    return metres / (M_PER_DEG * math.cos(math.radians(lat)))


def _messages(trip_id: str, fixes, claimed_fare: float, claimed_distance_m: float) -> list[dict]:
    start = {
        "type": "trip_started",
        "trip_id": trip_id,
        "driver_id": "d1",
        "city": "porto",
        "ts": T0,
        "pickup": {"lat": fixes[0][1], "lon": fixes[0][2]},
    }
    pings = [
        {
            "source": "pings",
            "value": {
                "trip_id": trip_id,
                "driver_id": "d1",
                "ts": ts,
                "lat": la,
                "lon": lo,
                "accuracy_m": 5.0 + (k * 7) % 5,
            },
        }
        for k, (ts, la, lo) in enumerate(fixes)
    ]
    end = {
        "type": "trip_ended",
        "trip_id": trip_id,
        "driver_id": "d1",
        "ts": fixes[-1][0] + 5_000,
        "claimed_fare": claimed_fare,
        "currency": "EUR",
        "claimed_distance_m": claimed_distance_m,
        "claimed_duration_s": (fixes[-1][0] + 5_000 - T0) / 1000.0,
    }
    return [{"source": "trips", "value": start}, *pings, {"source": "trips", "value": end}]


def _run(messages):
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    out = engine.process(build_batches(messages, [])[0])
    rest = engine.flush()
    return out.alerts + rest.alerts, out.verdicts + rest.verdicts


def _honest_claim(distance_m: float, duration_s: float) -> float:
    from tripguard.fare.tariff import load_tariffs

    return round(load_tariffs()["porto"].expected_fare(distance_m, duration_s), 2)


def test_a_1_5_km_spike_moves_the_gps_distance_by_under_2_percent():
    clean = _track(60, 9.0)
    spiked = list(clean)
    ts, la, lo = spiked[30]
    spiked[30] = (ts, la, lo + _east(la, 1500.0))  # one fix thrown 1.5 km east, the next back on track
    distances = []
    for trip_id, fixes in (("clean", clean), ("spiked", spiked)):
        alerts, verdicts = _run(_messages(trip_id, fixes, 20.0, 8000.0))
        distances.append(verdicts[0]["gps_distance_m"])
        assert not [a for a in alerts if a["kind"] in ("teleport", "impossible_speed")]
    assert abs(distances[1] - distances[0]) <= 0.02 * distances[0], distances
    assert verdicts[0]["pings_dropped"]["spike"] == 1


def test_the_fare_alert_on_a_teleported_trip_names_the_teleport():
    """The trace jumps 4 km ahead and carries on from there: the GPS path misses the 4 km the meter
    honestly counted, so the claim looks inflated against it. The fare and distance findings follow
    from the teleport and must say so (evidence.related, and the summary)."""
    before = _track(30, 9.0)
    ts, la, lo = before[-1]
    jump = 4000.0 / M_PER_DEG
    after = [
        (t + 30 * 15_000, la2 + jump, lo2) for t, la2, lo2 in _track(30, 9.0, lat0=la + 9.0 * 15 / M_PER_DEG, seed=1)
    ]
    fixes = before + after
    driven_m = _length_m(before) + _length_m(after) + 4000.0  # what the car drove: the meter's honest claim
    duration_s = (fixes[-1][0] + 5_000 - T0) / 1000.0
    alerts, verdicts = _run(_messages("teleported", fixes, _honest_claim(driven_m, duration_s), driven_m))
    by_kind = {a["kind"]: a for a in alerts}
    assert "teleport" in by_kind and {"fare_inflation", "distance_mismatch"} <= set(by_kind)
    teleport = by_kind["teleport"]
    for kind in ("fare_inflation", "distance_mismatch"):
        evidence = by_kind[kind]["evidence"]
        assert evidence["related"] == [{"alert_id": teleport["alert_id"], "kind": "teleport"}]
        assert "follows from the teleport" in evidence["summary"]
    assert "related" not in teleport["evidence"]


def test_a_fare_alert_without_a_displaced_trace_names_nothing():
    fixes = _track(60, 9.0)
    driven_m = _length_m(fixes)
    duration_s = (fixes[-1][0] + 5_000 - T0) / 1000.0
    alerts, _ = _run(_messages("inflated", fixes, round(1.5 * _honest_claim(driven_m, duration_s), 2), driven_m))
    assert [a["kind"] for a in alerts] == ["fare_inflation"]
    assert "related" not in alerts[0]["evidence"]


def _with_plan(messages: list[dict], **plan) -> list[dict]:
    messages[0]["value"].update(plan)
    return messages


def test_the_route_is_judged_by_its_corridor_when_the_trip_has_one():
    """Trip level, the GPS distance against a planned distance is the only route check a trip
    without a polyline gets; with one, the corridor's excursions say where the trip left it, and
    the distance ratio alone (which accused honest round trips) is not used."""
    from tripguard.geo import encode_polyline

    fixes = _track(60, 9.0)
    driven_m = _length_m(fixes)
    duration_s = (fixes[-1][0] + 5_000 - T0) / 1000.0
    claim = _honest_claim(driven_m, duration_s)
    plan = {"planned_distance_m": driven_m / 2.5, "planned_duration_s": duration_s / 2.5}
    alerts, _ = _run(_with_plan(_messages("distance only", fixes, claim, driven_m), **plan))
    assert [(a["kind"], a["detector"]["name"]) for a in alerts] == [("route_deviation", "route.detour_planned_route")]
    route = encode_polyline([(la, lo) for _, la, lo in fixes[::3]] + [fixes[-1][1:]])
    alerts, _ = _run(_with_plan(_messages("with its route", fixes, claim, driven_m), planned_route=route, **plan))
    assert alerts == []


def test_a_teleport_in_a_silence_whose_fixes_come_after_the_live_one_is_caught():
    """A phone out of coverage for two minutes sends the live fix first and its backlog after it;
    the teleport happened in the silence. In time order the trip is what it was; taken in arrival
    order the backlog is late, the silence a plausible tunnel, and the trip's claim looks inflated
    against the GPS distance that lost the silence (what this engine reported before)."""
    before = _track(30, 13.0)
    ts, la, lo = before[-1]
    after = [
        (t + 30 * 15_000, la2 + 2000.0 / M_PER_DEG, lo2)
        for t, la2, lo2 in _track(30, 13.0, lat0=la + 13.0 * 15 / M_PER_DEG, seed=1)
    ]
    fixes = before + after
    backlog = fixes[:30] + [fixes[38]] + fixes[30:38] + fixes[39:]
    results = {}
    for name, arrival in (("in order", fixes), ("backlog", backlog)):
        alerts, verdicts = _run(_messages(name, arrival, 20.0, 8000.0))
        results[name] = (sorted(a["kind"] for a in alerts if "related" not in a["evidence"]), verdicts[0])
    kinds, verdict = results["backlog"]
    assert kinds == results["in order"][0] == ["teleport"]
    assert verdict["pings_dropped"]["late"] == 0
    assert verdict["gps_distance_m"] == results["in order"][1]["gps_distance_m"]
