"""What every injection starts from (a real trip, its clean path, its true distance, its plan), and
the one edit two of them share: replacing a stretch of the real trace by a drive on the network."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.heldout import drive
from evaluation.heldout.porto import SAMPLING_S, RealTrip
from evaluation.heldout.roads import Line, Plan, Roads
from evaluation.heldout.track import Track, from_real, synthetic_track
from tripguard.simulate.geodesy import cumulative_m, haversine_m
from tripguard.simulate.roadlength import driven_distance_m

MIN_PACE_MPS = 3.0
MAX_PACE_MPS = 15.0


@dataclass
class Base:
    real: RealTrip
    track: Track  # the real fixes, untouched
    keep: np.ndarray  # indexes of the clean fixes (real spikes excluded)
    line: Line  # the road the car followed: the clean fixes joined
    s_fix: np.ndarray  # distance along `line` at every fix time
    true_distance_m: float  # robust estimate (tripguard.simulate.roadlength.driven_distance_m)
    plan: Plan | None
    roads: Roads

    @property
    def pace_mps(self) -> float:
        """The trip's own average pace, stops included."""
        return float(np.clip(self.true_distance_m / max(self.track.duration_s, 1.0), MIN_PACE_MPS, MAX_PACE_MPS))

    def distance_between(self, a: int, b: int) -> float:
        """Robust driven distance from fix a to fix b of the real trace."""
        if b <= a:
            return 0.0
        t = self.track
        return driven_distance_m(t.lat[a : b + 1], t.lon[a : b + 1], t.t_s[a : b + 1], self.roads.meter)


def make_base(real: RealTrip, roads: Roads) -> Base:
    track, keep = from_real(real)
    s_clean = cumulative_m(track.lat[keep], track.lon[keep])
    s_fix = np.interp(track.t_s, track.t_s[keep], s_clean)
    true_m = driven_distance_m(track.lat, track.lon, track.t_s, roads.meter)
    plan = roads.plan(real.lat[0], real.lon[0], real.lat[-1], real.lon[-1])
    return Base(real, track, keep, Line(track.lat[keep], track.lon[keep]), s_fix, true_m, plan, roads)


@dataclass
class Stretch:
    track: Track
    true_distance_m: float  # real parts (robust) + the drive's road length
    drive_length_m: float
    replaced_m: float  # robust length of the real stretch it replaces
    a: int
    b: int


def replace_stretch(
    rng: np.random.Generator, base: Base, roads: Roads, a: int, b: int, nodes: np.ndarray, duration_s: float
) -> Stretch:
    """The real trace up to fix a, then a drive from fix a along `nodes` to fix b taking about
    duration_s at an irregular pace (fixes every 15 s), then the real trace from fix b on,
    delayed or advanced by the difference in time. Fix a is kept; fix b is kept as the first fix
    after the drive."""
    tr = base.track
    route = roads.route(nodes)
    lead = float(haversine_m(tr.lat[a], tr.lon[a], route.lat[0], route.lon[0]))
    tail = float(haversine_m(route.lat[-1], route.lon[-1], tr.lat[b], tr.lon[b]))
    line = Line(np.r_[tr.lat[a], route.lat, tr.lat[b]], np.r_[tr.lon[a], route.lon, tr.lon[b]])
    lengths, posted, junction = drive.segments_of(roads, route, lead, tail)
    profile = drive.irregular_profile(rng, lengths, posted, junction, duration_s)
    t, lat, lon, speed, head = drive.sample(rng, line, profile, tr.t_s[a])
    mid = synthetic_track(t, lat, lon, speed, head)
    resume_t = (t[-1] if len(t) else tr.t_s[a]) + SAMPLING_S
    rest = tr.take(np.arange(b, tr.n))
    rest.t_s = rest.t_s - rest.t_s[0] + resume_t
    out = Track.concat(tr.take(np.arange(0, a + 1)), mid, rest)
    replaced = base.distance_between(a, b)
    true_m = base.distance_between(0, a) + line.length_m + base.distance_between(b, tr.n - 1)
    return Stretch(out, true_m, line.length_m, replaced, a, b)


def clean_between(base: Base, lo_share: float, hi_share: float) -> np.ndarray:
    """Clean fix indexes whose time lies in [lo, hi] shares of the trip's duration."""
    t = base.track.t_s[base.keep]
    d = base.track.duration_s
    return base.keep[(t >= lo_share * d) & (t <= hi_share * d)]


@dataclass
class Injection:
    """A trip's fixes plus the distances its claims are made from.

    true_distance_m: what the car physically drove (the honest meter's basis).
    gps_distance_m: what the reported GPS trace shows as driven; a manipulated meter bills this.
    """

    track: Track
    true_distance_m: float
    gps_distance_m: float
    detail: str
    meta: dict


def honest(base: Base) -> Injection:
    return Injection(base.track, base.true_distance_m, base.true_distance_m, "real trace as driven", {})


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
