"""Putting it together: which trips carry which fraud, their claims, schedule, noise and delivery,
and the files (pings.jsonl, trips.jsonl, labels.csv, summary.json).

Every random draw comes from a generator seeded by (seed, purpose, trip, replica), so the output is
a function of the seed and the input file only, and one trip's draws do not shift another's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evaluation.heldout import altroute, claims, delivery, gpsfraud, gpsnoise, schedule
from evaluation.heldout.compose import Base, Injection, honest, make_base
from evaluation.heldout.porto import RealTrip
from evaluation.heldout.roads import Roads

KINDS = ("impossible_speed", "teleport", "route_deviation", "fare_inflation", "distance_mismatch", "gps_spoofing")
GPS_KINDS = {
    "impossible_speed": gpsfraud.impossible_speed,
    "teleport": gpsfraud.teleport,
    "route_deviation": gpsfraud.route_deviation,
    "gps_spoofing": gpsfraud.spoof,
}
ALTERNATIVE_SHARE = 0.15  # of the honest trips with a plan: take a longer, faster road
START_LEAD_MS = (1500, 6000)  # trip_started comes a moment before the first fix
END_LAG_MS = (2000, 15000)  # trip_ended a moment after the last one
CITY, CURRENCY = "porto", "EUR"

# purposes, for the per-trip generators
_INJECT, _ALT, _TERMS, _NOISE, _DELIVER, _CLAIM = range(1, 7)


def _rng(seed: int, purpose: int, base_id: str = "", replica: int = 0, extra: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, purpose, zlib.crc32(base_id.encode()), replica, extra])


@dataclass
class Trip:
    trip_id: str
    base: Base
    replica: int
    kind: str  # "" for honest
    inj: Injection
    driver_id: str = ""
    started: dict = field(default_factory=dict)
    ended: dict = field(default_factory=dict)
    fixes: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    claim: claims.Claim | None = None


@dataclass
class Result:
    trips: list[Trip]
    summary: dict


def _trip_id(seed: int, base_id: str, replica: int) -> str:
    return "hx-" + hashlib.sha1(f"{seed}:{base_id}:{replica}".encode()).hexdigest()[:16]


def _quotas(rng: np.random.Generator, n_fraud: int) -> dict[str, int]:
    q = {k: n_fraud // len(KINDS) for k in KINDS}
    for k in rng.permutation(KINDS)[: n_fraud % len(KINDS)]:
        q[str(k)] += 1
    return q


def _inject(
    seed: int, kind: str, variant: int, base: Base, replica: int, roads: Roads, relaxed: bool = False
) -> Injection | None:
    rng = _rng(seed, _INJECT, base.real.trip_id, replica, KINDS.index(kind) + 10 * int(relaxed))
    if kind in GPS_KINDS:
        return GPS_KINDS[kind](rng, variant, base, roads, relaxed)
    return honest(base)  # fare_inflation / distance_mismatch only touch the claim


def assign(seed: int, bases: list[Base], replicas: int, fraud_rate: float, roads: Roads) -> list[Trip]:
    """Equal numbers per kind: kinds take turns picking the next trip (in a seeded random order) that
    can carry them."""
    items = [(b, r) for b in bases for r in range(replicas)]
    rng = _rng(seed, 0)
    order = [items[i] for i in rng.permutation(len(items))]
    quotas = _quotas(rng, int(round(fraud_rate * len(items))))
    taken: dict[tuple[str, int], Trip] = {}
    cursor = {k: 0 for k in KINDS}
    made = {k: 0 for k in KINDS}
    active = [k for k in KINDS if quotas[k] > 0]
    while active:
        for kind in list(active):
            while cursor[kind] < len(order):
                base, r = order[cursor[kind]]
                cursor[kind] += 1
                key = (base.real.trip_id, r)
                if key in taken:
                    continue
                inj = _inject(seed, kind, made[kind], base, r, roads)
                if inj is None:
                    continue
                taken[key] = Trip(_trip_id(seed, base.real.trip_id, r), base, r, kind, inj)
                made[kind] += 1
                break
            if made[kind] >= quotas[kind] or cursor[kind] >= len(order):
                active.remove(kind)
    # a kind that ran out of trips fitting its variants: fill its quota with choices that fit
    for kind in KINDS:
        for base, r in order:
            if made[kind] >= quotas[kind]:
                break
            key = (base.real.trip_id, r)
            if key in taken:
                continue
            inj = _inject(seed, kind, made[kind], base, r, roads, relaxed=True)
            if inj is not None:
                taken[key] = Trip(_trip_id(seed, base.real.trip_id, r), base, r, kind, inj)
                made[kind] += 1
    # honest variety: a share of the honest trips with a plan take a longer, faster road; tried in a
    # seeded order until the share is reached (not every trip has such a road)
    alt: dict[tuple[str, int], Injection] = {}
    honest_planned = [(b, r) for b, r in items if (b.real.trip_id, r) not in taken and b.plan is not None]
    quota = int(round(ALTERNATIVE_SHARE * len(honest_planned)))
    for i in _rng(seed, _ALT).permutation(len(honest_planned)):
        if len(alt) >= quota:
            break
        base, r = honest_planned[i]
        inj = altroute.alternative(_rng(seed, _ALT, base.real.trip_id, r), base, roads)
        if inj is not None:
            alt[(base.real.trip_id, r)] = inj
    trips = []
    for base, r in items:
        key = (base.real.trip_id, r)
        if key in taken:
            trips.append(taken[key])
        else:
            trips.append(Trip(_trip_id(seed, base.real.trip_id, r), base, r, "", alt.get(key) or honest(base)))
    return trips


def _started(t: Trip, ts: int, terms: claims.Terms) -> dict:
    real = t.base.real
    ev = {
        "type": "trip_started",
        "trip_id": t.trip_id,
        "driver_id": t.driver_id,
        "city": CITY,
        "ts": ts,
        "pickup": {"lat": round(float(real.lat[0]), 6), "lon": round(float(real.lon[0]), 6)},
        "dropoff": {"lat": round(float(real.lat[-1]), 6), "lon": round(float(real.lon[-1]), 6)},
        "surge": terms.surge,
        "product": "standard",
    }
    plan = t.base.plan
    if plan is not None:
        ev["planned_route"] = plan.polyline
        ev["planned_distance_m"] = round(plan.distance_m, 1)
        ev["planned_duration_s"] = round(plan.duration_s, 1)
    return ev


def build(
    real_trips: list[RealTrip],
    seed: int,
    fraud_rate: float = 0.3,
    replicas: int = 3,
    concurrent: int = schedule.CONCURRENT,
) -> Result:
    roads = Roads()
    bases = [make_base(t, roads) for t in real_trips]
    trips = assign(seed, bases, replicas, fraud_rate, roads)

    # schedule: starts, then the event span of each trip, then drivers
    rng = _rng(seed, 100)
    starts = schedule.start_times_ms(rng, np.array([t.inj.track.duration_s for t in trips]), concurrent)
    starts = starts[rng.permutation(len(trips))]  # kinds and replicas mixed in time
    spans, leads = [], []
    for t, s in zip(trips, starts):
        lead = int(rng.integers(*START_LEAD_MS))
        lag = int(rng.integers(*END_LAG_MS))
        leads.append(lead)
        last_fix = int(s) + lead + int(round(t.inj.track.duration_s * 1000)) + int(gpsnoise.TS_JITTER_MAX_MS)
        spans.append((int(s), last_fix + lag))
    drivers = schedule.assign_drivers(rng, seed, spans)
    devices: dict[str, gpsnoise.Device] = {}
    for d in sorted(set(drivers)):
        devices[d] = gpsnoise.draw_device(np.random.default_rng([seed, 200, zlib.crc32(d.encode())]))

    for t, (s, e), lead, d in zip(trips, spans, leads, drivers):
        bid, r = t.base.real.trip_id, t.replica
        t.driver_id = d
        terms = claims.draw_terms(_rng(seed, _TERMS, bid, r), t.base.plan is not None, t.kind)
        fixes, noise_counts = gpsnoise.apply(_rng(seed, _NOISE, bid, r), t.inj.track, devices[d], s + lead)
        for f in fixes:
            f["trip_id"], f["driver_id"] = t.trip_id, d
        t.fixes = fixes
        t.messages, dcounts = delivery.deliver(_rng(seed, _DELIVER, bid, r), fixes)
        t.counts = {**noise_counts, **dcounts}
        duration_s = (e - s) / 1000.0
        basis = t.inj.gps_distance_m if t.kind in claims.METERED_KINDS else t.inj.true_distance_m
        t.claim = claims.make_claim(_rng(seed, _CLAIM, bid, r), t.kind, terms, basis, duration_s, t.base.plan)
        t.started = _started(t, s, terms)
        if t.claim.quoted_fare is not None:
            t.started["quoted_fare"] = t.claim.quoted_fare
        t.ended = {
            "type": "trip_ended",
            "trip_id": t.trip_id,
            "driver_id": d,
            "ts": e,
            "claimed_fare": t.claim.claimed_fare,
            "currency": CURRENCY,
            "claimed_distance_m": t.claim.claimed_distance_m,
        }
        if terms.tolls > 0:
            t.ended["tolls"] = terms.tolls
        if _rng(seed, _CLAIM, bid, r, 1).random() < 0.8:
            t.ended["claimed_duration_s"] = round(duration_s, 1)
        t.inj.meta["wait_s"] = round(terms.wait_s, 1)
        t.inj.meta["meter_error"] = round(terms.meter_error, 4)
    return Result(trips, _summary(trips, bases, spans, seed, fraud_rate, replicas))


def _summary(trips: list[Trip], bases: list[Base], spans, seed: int, fraud_rate: float, replicas: int) -> dict:
    kinds = {k: sum(1 for t in trips if t.kind == k) for k in KINDS}
    honest_planned = [t for t in trips if t.kind == "" and t.base.plan is not None]
    plain = [t for t in honest_planned if t.inj.track is t.base.track]

    def event_ratio(ts: list[Trip]) -> list[float]:
        return [(t.ended["ts"] - t.started["ts"]) / 1000.0 / t.base.plan.duration_s for t in ts]

    real_ratio = [b.track.duration_s / b.plan.duration_s for b in bases if b.plan is not None]
    msgs = sum(t.counts["messages"] for t in trips)
    arrays = sum(t.counts["array_messages"] for t in trips)

    def spread(r: list[float], what: str) -> dict:
        if not r:
            return {"median_duration_over_eta": None, "trips": 0, "what": what}
        p25, p50, p75 = (round(float(v), 3) for v in np.percentile(r, [25, 50, 75]))
        return {"median_duration_over_eta": p50, "p25": p25, "p75": p75, "trips": len(r), "what": what}

    alternative = sum(1 for t in trips if t.kind == "" and t.inj.detail.startswith("honest alternative"))
    return {
        "seed": seed,
        "fraud_rate": fraud_rate,
        "replicas": replicas,
        "trips": len(trips),
        "base_trips": len({t.base.real.trip_id for t in trips}),
        "honest": sum(1 for t in trips if t.kind == ""),
        "kinds": kinds,
        "honest_alternative_route": alternative,
        "with_plan": sum(1 for t in trips if t.base.plan is not None),
        "eta_calibration_real": spread(
            real_ratio, "every input trip with a plan: real trace duration (first to last fix) / ETA"
        ),
        "eta_calibration": spread(
            event_ratio(honest_planned),
            "honest trips with a plan (alternative routes included): (trip_ended - trip_started) / planned_duration_s",
        ),
        "eta_calibration_unmodified": spread(
            event_ratio(plain),
            "the same without the alternative routes (which take the quicker trips, so the rest skew slow)",
        ),
        "concurrency": schedule.concurrency(spans),
        "messages": msgs,
        "array_message_share": round(arrays / max(msgs, 1), 3),
        "pings": sum(len(t.fixes) for t in trips),
        "noise": {
            k: sum(t.counts.get(k, 0) for t in trips)
            for k in ("spikes", "tunnel_gaps", "tunnel_lost", "zero", "coarse", "late", "duplicates")
        },
    }


def _public(fix: dict) -> dict:
    order = ("trip_id", "driver_id", "ts", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "provider", "mock")
    return {k: fix[k] for k in order if k in fix}


def write(result: Result, out: Path | str) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    msgs = []
    for t in result.trips:
        for seq, (at, group) in enumerate(t.messages):
            payload = _public(group[0]) if len(group) == 1 else [_public(f) for f in group]
            msgs.append((at, t.trip_id, seq, payload))
    msgs.sort(key=lambda m: (m[0], m[1], m[2]))
    with open(out / "pings.jsonl", "w") as f:
        for m in msgs:
            f.write(json.dumps(m[3], separators=(",", ":")) + "\n")
    events = [(t.started["ts"], 0, t.trip_id, t.started) for t in result.trips]
    events += [(t.ended["ts"], 1, t.trip_id, t.ended) for t in result.trips]
    events.sort(key=lambda e: e[:3])
    with open(out / "trips.jsonl", "w") as f:
        for e in events:
            f.write(json.dumps(e[3], separators=(",", ":")) + "\n")
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trip_id", "kinds", "base", "detail"])
        for t in sorted(result.trips, key=lambda t: t.trip_id):
            w.writerow([t.trip_id, t.kind, t.base.real.trip_id, label_detail(t)])
    with open(out / "summary.json", "w") as f:
        json.dump(result.summary, f, indent=2)
        f.write("\n")


def label_detail(t: Trip) -> str:
    c = t.claim
    parts = [t.inj.detail]
    if t.kind == "fare_inflation":
        parts.append(f"claimed fare x{c.factor:.2f} of honest {c.honest_fare:.2f} EUR")
    elif t.kind == "distance_mismatch":
        parts.append(f"claimed distance x{c.factor:.2f} of driven {t.inj.true_distance_m:.0f} m")
    parts.append(
        f"driven {t.inj.true_distance_m:.0f} m, gps shows {t.inj.gps_distance_m:.0f} m, "
        f"wait {t.inj.meta.get('wait_s', 0):.0f}s, meter x{t.inj.meta.get('meter_error', 1):.3f}"
        + (", upfront quote" if c.quoted_fare is not None else "")
    )
    return "; ".join(parts)
