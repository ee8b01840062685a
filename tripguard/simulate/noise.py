"""The honest noise of real phone GPS, applied to a trip's true positions.

Position error: every fix has an accuracy (device-reported 68 % radius, whether or not the
device reports it) and an error consistent with it: a 2-D Gaussian with per-axis sigma =
accuracy / 1.51 (P(radius <= 1.51 sigma) = 0.68), correlated in time like real GNSS error (AR(1)
with a 20 s correlation time: consecutive errors drift, they do not zig-zag).
GNSS faults: multipath spikes, tunnel gaps, (0, 0) fixes, coarse network fixes, a stale first fix.
Device fields: accuracy_m, speed_mps, bearing_deg, provider, mock as real apps report them.
Rates are fields of NoiseRates; docs/simulate.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripguard.simulate.geodesy import LocalFrame
from tripguard.simulate.trace import Trace

SIGMA_PER_ACCURACY = 1.0 / 1.5096  # per-axis sigma of a 2-D Gaussian whose 68 % radius is 1


@dataclass(frozen=True)
class NoiseRates:
    accuracy_median_low_m: float = 4.0  # each trip's typical accuracy is log-uniform in [low, high]
    accuracy_median_high_m: float = 15.0
    accuracy_sigma: float = 0.35  # per-fix lognormal spread around the trip's typical accuracy
    no_accuracy_trip_rate: float = 0.10  # devices that report no accuracy_m on their GPS fixes
    # GNSS error is mostly a slowly drifting bias plus a little white noise: phones report
    # 5-15 m accuracy, yet consecutive fixes of a standing taxi in the real Porto data move a
    # median 2.5 m per 15 s. A 300 s correlation time plus 0.7 m white noise per axis gives that.
    error_correlation_s: float = 300.0
    white_error_m: float = 0.7
    real_jitter_scale: float = 0.5  # real fixes already carry their own error: add half
    spike_per_fix: float = 1.0 / 150.0
    spike_pair_share: float = 0.10  # spikes that displace two consecutive fixes
    spike_min_m: float = 200.0
    spike_max_m: float = 3000.0
    tunnel_trip_rate: float = 0.10
    tunnel_min_s: float = 60.0
    tunnel_max_s: float = 240.0
    zero_rate: float = 0.002
    network_rate: float = 0.01
    network_accuracy_min_m: float = 300.0
    network_accuracy_max_m: float = 1500.0
    stale_first_fix_rate: float = 0.03  # synthetic trips: GPS warm-up reports an old position
    device_speed_trip_rate: float = 0.70
    device_speed_sigma_mps: float = 0.5
    bearing_sigma_deg: float = 5.0
    mock_field_trip_rate: float = 0.5  # apps that send "mock": false (the others omit it)
    ts_jitter_ms: float = 150.0
    duplicate_rate: float = 0.01
    late_rate: float = 0.01
    late_min_s: float = 5.0
    late_max_s: float = 60.0
    batch_share: float = 0.40  # messages that are arrays (an app's batched upload)
    batch_min: int = 2
    batch_max: int = 10
    latency_min_ms: int = 100
    latency_max_ms: int = 1500


PROVIDERS = ("gps", "fused", "network")


@dataclass
class Fixes:
    """Reported fixes of one trip in ts order; NaN / -1 = field absent."""

    ts_ms: np.ndarray  # int64
    lat: np.ndarray
    lon: np.ndarray
    accuracy_m: np.ndarray
    speed_mps: np.ndarray
    bearing_deg: np.ndarray
    provider: np.ndarray  # int8 index into PROVIDERS, -1 absent
    mock: np.ndarray  # int8: -1 absent, 0 false, 1 true
    duplicate: np.ndarray  # bool: a re-send of the row before
    late: np.ndarray  # bool: delivered after later fixes
    tag: np.ndarray  # <U8 what the noise did to this fix ('' = nothing)
    src: np.ndarray  # int64: the Trace row this fix reports

    @property
    def n(self) -> int:
        return len(self.ts_ms)

    def take(self, idx: np.ndarray) -> Fixes:
        return Fixes(**{k: v[idx] for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class Device:
    provider: int
    accuracy_median_m: float
    reports_accuracy: bool
    reports_speed: bool
    reports_mock: bool


def draw_device(rng: np.random.Generator, rates: NoiseRates) -> Device:
    return Device(
        provider=int(rng.integers(0, 2)),
        accuracy_median_m=float(
            np.exp(rng.uniform(np.log(rates.accuracy_median_low_m), np.log(rates.accuracy_median_high_m)))
        ),
        reports_accuracy=bool(rng.random() >= rates.no_accuracy_trip_rate),
        reports_speed=bool(rng.random() < rates.device_speed_trip_rate),
        reports_mock=bool(rng.random() < rates.mock_field_trip_rate),
    )


def _ar1_unit(t_s: np.ndarray, tau_s: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance AR(1) noise sampled at times t_s (irregular spacing allowed)."""
    n = len(t_s)
    out = np.empty(n)
    if n == 0:
        return out
    z = rng.standard_normal(n)
    rho = np.exp(-np.diff(t_s) / tau_s)
    out[0] = z[0]
    innov = np.sqrt(1.0 - rho**2)
    for i in range(1, n):  # short loop (one trip); a recurrence numpy cannot vectorise
        out[i] = rho[i - 1] * out[i - 1] + innov[i - 1] * z[i]
    return out


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def tunnel_window(trace: Trace, rng: np.random.Generator, rates: NoiseRates) -> tuple[float, float] | None:
    """A window of lost fixes (start, end) in trip seconds, or None."""
    if rng.random() >= rates.tunnel_trip_rate:
        return None
    gap = rng.uniform(rates.tunnel_min_s, rates.tunnel_max_s)
    lo, hi = 30.0, trace.t_s[-1] - gap - 30.0
    if hi <= lo:
        return None
    tunnels = [t for t in trace.tunnel_t_s if lo <= t <= hi]
    start = tunnels[0] if tunnels else rng.uniform(lo, hi)
    inside = (trace.t_s >= start) & (trace.t_s <= start + gap)
    if inside.sum() < 2:
        return None
    return (float(start), float(start + gap))


def apply_noise(
    trace: Trace,
    rng: np.random.Generator,
    rates: NoiseRates,
    device: Device,
    t0_ms: int,
    *,
    position_jitter: bool = True,
    constant_accuracy_m: float | None = None,
    stale_first_fix: bool = False,
) -> Fixes:
    """Reported fixes for `trace`. Every trip gets the GNSS faults, fraudulent ones too (the
    world does not spare a fraud's window); a replay spoofer's positions have no jitter."""
    n = trace.n
    keep = np.ones(n, dtype=bool)
    window = tunnel_window(trace, rng, rates)
    if window is not None:
        keep &= ~((trace.t_s >= window[0]) & (trace.t_s <= window[1]))
    idx = np.flatnonzero(keep)
    t_s = trace.t_s[idx]
    lat = trace.lat[idx].copy()
    lon = trace.lon[idx].copy()
    true_speed = trace.speed_mps[idx]
    true_bearing = trace.bearing_deg[idx]
    m = len(idx)
    tag = np.full(m, "", dtype="<U8")
    if window is not None:
        after = np.searchsorted(t_s, window[1])
        if after < m:
            tag[after] = "tunnel"  # first fix after the gap

    frame = LocalFrame(float(np.nanmean(lat)), float(np.nanmean(lon)))
    if constant_accuracy_m is not None:
        accuracy = np.full(m, float(constant_accuracy_m))
    else:
        accuracy = device.accuracy_median_m * rng.lognormal(0.0, rates.accuracy_sigma, m)
    if position_jitter:
        scale = accuracy * SIGMA_PER_ACCURACY * (rates.real_jitter_scale if trace.real else 1.0)
        ex = _ar1_unit(t_s, rates.error_correlation_s, rng) * scale + rng.normal(0.0, rates.white_error_m, m)
        ey = _ar1_unit(t_s, rates.error_correlation_s, rng) * scale + rng.normal(0.0, rates.white_error_m, m)
        lat, lon = frame.offset(lat, lon, ex, ey)

    provider = np.full(m, device.provider, dtype=np.int8)
    speed = np.where(
        device.reports_speed, np.maximum(true_speed + rng.normal(0.0, rates.device_speed_sigma_mps, m), 0.0), np.nan
    )
    bearing = np.where(
        device.reports_speed & (true_speed > 1.0),
        np.mod(true_bearing + rng.normal(0.0, rates.bearing_sigma_deg, m), 360.0),
        np.nan,
    )

    free = np.ones(m, dtype=bool)
    if window is not None:
        # The fixes around a tunnel gap stay clean: a spike there would read as a jump that
        # never comes back (the return is hidden in the gap), which is not what a gap is.
        after = int(np.searchsorted(t_s, window[1]))  # type: ignore[assignment]
        free[max(after - 1, 0) : after + 1] = False
    # Coarse network fixes: the fused provider fell back to cell/Wi-Fi positioning.
    net = free & (rng.random(m) < rates.network_rate)
    k = int(net.sum())
    if k:
        acc_net = rng.uniform(rates.network_accuracy_min_m, rates.network_accuracy_max_m, k)
        tlat, tlon = trace.lat[idx][net], trace.lon[idx][net]
        lat[net], lon[net] = frame.offset(tlat, tlon, *(rng.standard_normal((2, k)) * acc_net * SIGMA_PER_ACCURACY))
        accuracy[net] = acc_net
        provider[net] = PROVIDERS.index("network")
        speed[net] = np.nan
        bearing[net] = np.nan
        tag[net] = "network"
    # Multipath spikes: one fix (rarely two) thrown far off; the next is back on track.
    spike = free & ~net & (rng.random(m) < rates.spike_per_fix)
    for i in np.flatnonzero(spike):
        dist = _log_uniform(rng, rates.spike_min_m, rates.spike_max_m)
        ang = rng.uniform(0.0, 2.0 * np.pi)
        run = 2 if (rng.random() < rates.spike_pair_share and i + 1 < m and free[i + 1]) else 1
        east, north = dist * np.sin(ang), dist * np.cos(ang)
        for j in range(i, i + run):
            # A pair comes from the same reflection: nearly the same offset (tens of metres).
            de, dn = rng.normal(0.0, 30.0, 2) if j > i else (0.0, 0.0)
            lat[j], lon[j] = frame.offset(lat[j], lon[j], east + de, north + dn)
            tag[j] = "spike"
    # (0, 0): a broken fix some devices emit while acquiring.
    zero = free & (tag == "") & (rng.random(m) < rates.zero_rate)
    lat[zero] = 0.0
    lon[zero] = 0.0
    accuracy[zero] = np.nan
    speed[zero] = np.nan
    bearing[zero] = np.nan
    tag[zero] = "zero"
    if stale_first_fix and m > 2:
        # GPS warm-up: the first fix is the last position the phone had, with poor accuracy.
        dist = _log_uniform(rng, 150.0, 1500.0)
        ang = rng.uniform(0.0, 2.0 * np.pi)
        lat[0], lon[0] = frame.offset(lat[0], lon[0], dist * np.sin(ang), dist * np.cos(ang))
        accuracy[0] = rng.uniform(20.0, 100.0)
        tag[0] = "stale"

    if not device.reports_accuracy and constant_accuracy_m is None:
        # Such devices omit accuracy on their GPS fixes; coarse network fixes always carry theirs.
        accuracy = np.where(provider == PROVIDERS.index("network"), accuracy, np.nan)
    mock = np.full(m, 0 if device.reports_mock else -1, dtype=np.int8)

    if trace.regular:
        ts = t0_ms + np.round(t_s * 1000.0).astype(np.int64)
    else:
        spacing_ms = float(np.min(np.diff(t_s))) * 1000.0 if m > 1 else 1000.0
        bound = min(3.0 * rates.ts_jitter_ms, spacing_ms / 4.0)
        jitter = np.clip(rng.normal(0.0, rates.ts_jitter_ms, m), -bound, bound)
        jitter[0] = abs(jitter[0]) + 1.0  # the first fix comes after the pickup, never with it
        ts = t0_ms + np.round(t_s * 1000.0 + jitter).astype(np.int64)

    fixes = Fixes(
        ts_ms=ts,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy,
        speed_mps=speed,
        bearing_deg=bearing,
        provider=provider,
        mock=mock,
        duplicate=np.zeros(m, dtype=bool),
        late=np.zeros(m, dtype=bool),
        tag=tag,
        src=idx,
    )
    return fixes


def add_delivery_faults(fixes: Fixes, rng: np.random.Generator, rates: NoiseRates) -> Fixes:
    """Duplicates (a fix re-sent: same ts, same position) and late deliveries (flagged here,
    scheduled by delivery.py). These come from the app's upload path, so every trace has them,
    spoofed or not."""
    m = fixes.n
    dup = rng.random(m) < rates.duplicate_rate
    order = np.sort(np.concatenate([np.arange(m), np.flatnonzero(dup)]), kind="stable")
    out = fixes.take(order)
    out.duplicate = np.concatenate([[False], order[1:] == order[:-1]])
    # A late fix needs a later one to be overtaken by: never the last fix.
    out.late = (~out.duplicate) & (rng.random(out.n) < rates.late_rate) & (out.ts_ms < out.ts_ms[-1])
    return out
