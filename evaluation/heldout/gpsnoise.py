"""Honest GPS faults and the device's optional fields, applied to every trip (fraudulent ones too).

The faults are what phones do in a city: multipath spikes (one or two fixes 300-1500 m off, then
back), tunnel gaps (90-180 s without fixes while the car goes on), (0, 0) fixes, coarse network
fixes (accuracy 300-1500 m, position off by about that much). Fix times jitter by a few hundred
ms (a receiver does not fix on the exact second). Fixes marked protected (a fraud's evidence) are
never removed, moved or zeroed; faults happen all around them.

A phone (one per driver) decides which optional fields appear: accuracy_m on most fixes of most
phones, device speed/bearing on many, a provider name on most, mock=false on some apps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.heldout.track import Track
from tripguard.simulate.geodesy import LocalFrame

TS_JITTER_SD_MS = 250.0
TS_JITTER_MAX_MS = 1000.0  # gpsfraud.RUN_STEP_M relies on this bound
TUNNEL_P = 0.2
TUNNEL_S = (90.0, 180.0)
SPIKES_PER_TRIP = 0.4  # Poisson mean of spike events
SPIKE_M = (300.0, 1500.0)
ZERO_P = 0.004  # per fix
COARSE_P = 0.06  # per fix, on phones that fall back to network positioning
COARSE_M = (300.0, 1500.0)
ACCURACY_PRESENT_P = 0.95
SPEED_SD_MPS = 0.25
BEARING_SD_DEG = 3.0
RAYLEIGH_68 = 1.51  # a 2-D normal error with per-axis sd s has its 68 % radius at 1.51 s


@dataclass(frozen=True)
class Device:
    reports_accuracy: bool
    accuracy_median_m: float
    reports_speed: bool
    provider: str | None
    reports_mock: bool
    network_fallback: bool


def draw_device(rng: np.random.Generator) -> Device:
    return Device(
        reports_accuracy=bool(rng.random() < 0.9),
        accuracy_median_m=float(np.exp(rng.uniform(np.log(3.0), np.log(12.0)))),
        reports_speed=bool(rng.random() < 0.6),
        provider=[None, "gps", "fused"][int(rng.choice(3, p=[0.15, 0.5, 0.35]))],
        reports_mock=bool(rng.random() < 0.45),
        network_fallback=bool(rng.random() < 0.35),
    )


def _fix_times_ms(rng: np.random.Generator, track: Track, start_ms: int) -> np.ndarray:
    base = start_ms + np.round(track.t_s * 1000.0).astype(np.int64)
    if track.app.get("exact_timing"):
        return base  # the app's own clock: exact intervals
    jit = np.clip(rng.normal(0.0, TS_JITTER_SD_MS, track.n), -TS_JITTER_MAX_MS, TS_JITTER_MAX_MS)
    ts = base + np.round(jit).astype(np.int64)
    for i in range(1, len(ts)):  # stays strictly increasing (intervals are >= 1 s)
        ts[i] = max(ts[i], ts[i - 1] + 1)
    return ts


def _tunnel(rng: np.random.Generator, track: Track, alive: np.ndarray) -> tuple[float, float] | None:
    if track.duration_s < 300.0 or rng.random() >= TUNNEL_P:
        return None
    for _ in range(5):
        length = rng.uniform(*TUNNEL_S)
        t0 = rng.uniform(30.0, track.duration_s - length - 30.0)
        inside = (track.t_s > t0) & (track.t_s < t0 + length)
        if not (inside & track.protected).any():
            alive &= ~inside
            return float(t0), float(length)
    return None


def _spikes(
    rng: np.random.Generator, track: Track, alive: np.ndarray, lat: np.ndarray, lon: np.ndarray, role: list
) -> int:
    made = 0
    for _ in range(int(rng.poisson(SPIKES_PER_TRIP))):
        width = int(rng.integers(1, 3))
        ok = [
            i
            for i in range(1, track.n - width)
            if alive[i : i + width].all()
            and not track.protected[i : i + width].any()
            and all(r == "fix" for r in role[i : i + width])
        ]
        if not ok:
            continue
        i = int(rng.choice(ok))
        dist, ang = rng.uniform(*SPIKE_M), rng.uniform(0, 2 * np.pi)
        for j in range(i, i + width):
            frame = LocalFrame(float(lat[j]), float(lon[j]))
            e = dist * np.sin(ang) + rng.normal(0, 30.0)
            n = dist * np.cos(ang) + rng.normal(0, 30.0)
            lat[j], lon[j] = frame.offset(lat[j], lon[j], e, n)
            role[j] = "spike"
        made += 1
    return made


def apply(rng: np.random.Generator, track: Track, device: Device, start_ms: int) -> tuple[list[dict], dict]:
    """Fix objects (contract v1 ping fields without trip_id/driver_id, plus '_protected' and
    '_role', '_i' for the delivery stage and the tests; never written out) and a count of the faults made."""
    app = track.app
    ts = _fix_times_ms(rng, track, start_ms)
    lat, lon = track.lat.copy(), track.lon.copy()
    alive = np.ones(track.n, dtype=bool)
    role = ["fix"] * track.n
    tunnel = _tunnel(rng, track, alive)
    spikes = _spikes(rng, track, alive, lat, lon, role)
    free = alive & ~track.protected
    for i in np.flatnonzero(free & (rng.random(track.n) < ZERO_P)):
        if role[i] == "fix":
            lat[i], lon[i], role[i] = 0.0, 0.0, "zero"
    if device.network_fallback:
        for i in np.flatnonzero(free & (rng.random(track.n) < COARSE_P)):
            if role[i] == "fix":
                acc = rng.uniform(*COARSE_M)
                frame = LocalFrame(float(lat[i]), float(lon[i]))
                err = np.clip(rng.normal(0, acc / RAYLEIGH_68, 2), -2 * acc, 2 * acc)
                lat[i], lon[i] = frame.offset(lat[i], lon[i], err[0], err[1])
                role[i] = ("coarse", acc)

    spoof = bool(app)
    mock_share = app.get("mock_share")
    const_acc = app.get("accuracy_m")
    speed_on = device.reports_speed or app.get("speed_reported", False)
    fixes = []
    for i in np.flatnonzero(alive):
        r = role[i]
        fix = {"ts": int(ts[i]), "lat": round(float(lat[i]), 6), "lon": round(float(lon[i]), 6)}
        coarse = isinstance(r, tuple)
        if const_acc is not None:
            fix["accuracy_m"] = const_acc
        elif coarse:
            fix["accuracy_m"] = round(float(r[1]), 1)
        elif r != "zero" and device.reports_accuracy and rng.random() < ACCURACY_PRESENT_P:
            fix["accuracy_m"] = round(float(device.accuracy_median_m * np.exp(rng.normal(0, 0.35))), 1)
        if speed_on and not coarse and r != "zero":
            v = float(track.speed_mps[i])
            if not spoof:  # a real Doppler reading is noisy; an app reports its own number
                v = max(0.0, v + rng.normal(0.0, SPEED_SD_MPS))
            fix["speed_mps"] = round(v, 2)
            b = float(track.bearing_deg[i])
            if np.isfinite(b) and v >= 1.0:
                b = (b + (0.0 if spoof else rng.normal(0.0, BEARING_SD_DEG))) % 360.0
                fix["bearing_deg"] = round(b, 1) % 360.0
        if coarse:
            if device.provider is not None:
                fix["provider"] = "network"
        elif device.provider is not None:
            fix["provider"] = "gps" if spoof else device.provider
        if mock_share is not None:
            fix["mock"] = bool(rng.random() < mock_share)
        elif device.reports_mock:
            fix["mock"] = False
        fix["_i"] = int(i)  # index in the track, so tests can compare with what was injected
        fix["_protected"] = bool(track.protected[i])
        fix["_role"] = "coarse" if coarse else r
        fixes.append(fix)
    counts = {
        "tunnel_gaps": int(tunnel is not None),
        "tunnel_lost": int(track.n - alive.sum()),
        "spikes": spikes,
        "zero": sum(1 for f in fixes if f["_role"] == "zero"),
        "coarse": sum(1 for f in fixes if f["_role"] == "coarse"),
    }
    return fixes, counts
