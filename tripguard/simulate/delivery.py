"""How an app's fixes reach Kafka: single pings or batched arrays, network latency, re-sends
and late deliveries. Produces the message values of one trip with their delivery times."""

from __future__ import annotations

from typing import Any

import numpy as np

from tripguard.simulate.noise import PROVIDERS, Fixes, NoiseRates


def ping_objects(fixes: Fixes, trip_id: str, driver_id: str) -> list[dict[str, Any]]:
    """Contract v1 ping objects; absent optional fields are left out."""
    out = []
    for i in range(fixes.n):
        obj: dict[str, Any] = {
            "trip_id": trip_id,
            "driver_id": driver_id,
            "ts": int(fixes.ts_ms[i]),
            "lat": round(float(fixes.lat[i]), 6),
            "lon": round(float(fixes.lon[i]), 6),
        }
        acc = fixes.accuracy_m[i]
        if acc == acc:
            obj["accuracy_m"] = round(float(acc), 1)
        spd = fixes.speed_mps[i]
        if spd == spd:
            obj["speed_mps"] = round(float(spd), 2)
        brg = fixes.bearing_deg[i]
        if brg == brg:
            b = round(float(brg), 1)
            obj["bearing_deg"] = 0.0 if b >= 360.0 else b
        if fixes.provider[i] >= 0:
            obj["provider"] = PROVIDERS[fixes.provider[i]]
        if fixes.mock[i] >= 0:
            obj["mock"] = bool(fixes.mock[i])
        out.append(obj)
    return out


def schedule(
    fixes: Fixes, objects: list[dict[str, Any]], rng: np.random.Generator, rates: NoiseRates
) -> list[tuple[int, Any]]:
    """(delivery_ms, message value) in delivery order for one trip.

    In-order fixes are grouped into messages (60 % single pings, 40 % arrays of 2-10) sent when
    their last fix is taken, plus network latency; a trip's messages arrive in the order sent.
    A re-sent fix (duplicate) goes out alone shortly after its original. A late fix goes out
    alone 5-60 s after the first message carrying a later fix of the trip.
    """
    n = fixes.n
    regular = np.flatnonzero(~fixes.late & ~fixes.duplicate)
    messages: list[tuple[int, Any]] = []
    delivered_at = np.zeros(n, dtype=np.int64)  # delivery of the message holding each fix
    last = 0
    k = 0
    while k < len(regular):
        size = 1
        if rng.random() < rates.batch_share:
            size = int(rng.integers(rates.batch_min, rates.batch_max + 1))
        group = regular[k : k + size]
        k += size
        latency = int(rng.integers(rates.latency_min_ms, rates.latency_max_ms + 1))
        at = max(int(fixes.ts_ms[group[-1]]) + latency, last)
        last = at
        delivered_at[group] = at
        value = objects[group[0]] if len(group) == 1 else [objects[i] for i in group]
        messages.append((at, value))
    for i in np.flatnonzero(fixes.duplicate):
        original = i - 1
        while original > 0 and fixes.duplicate[original]:
            original -= 1
        base = delivered_at[original] if delivered_at[original] else int(fixes.ts_ms[i])
        messages.append((int(base + rng.integers(500, 8000)), objects[i]))
    for i in np.flatnonzero(fixes.late):
        later = regular[fixes.ts_ms[regular] > fixes.ts_ms[i]]
        base = int(delivered_at[later].min()) if len(later) else int(fixes.ts_ms[i])
        delay_ms = int(rng.uniform(rates.late_min_s, rates.late_max_s) * 1000.0)
        messages.append((base + delay_ms, objects[i]))
    messages.sort(key=lambda m: m[0])  # stable: equal times keep the order sent
    return messages
