"""What no single trip shows, found across one driver's trips.

- overlapping_trips: two of the driver's trips ran at the same time (pickup to drop-off) for at
  least overlap_min_s. One driver drives one car: the account is shared, or one of the rides is
  invented.
- two_places_at_once: during such an overlap the two trips' fixes are too far apart for one
  phone (further than apart_min_m, and than apart_speed_mps could cover in the seconds between
  them), at apart_min_pairs moments or more.
- repeated_fare_inflation / repeated_distance_inflation: over the 30-day window, the driver
  claimed at least inflation_*_ratio x what the GPS path gives so often that an honest driver
  would do so with a probability of at most inflation_max_p (binomial tail at the honest share).
  Each claim may stay under the single-trip detectors' thresholds.
"""

from __future__ import annotations

import bisect
import functools
import operator

import numpy as np
from scipy.special import betainc

from tripguard.kernels.geo import haversine_m_np
from tripguard.risk.history import DriverHistory, TripFact
from tripguard.risk.params import RiskParams


def link_overlaps(history: DriverHistory, fact: TripFact, p: RiskParams) -> None:
    """Mark `fact` and the driver's other trips that overlap it (both ways)."""
    # A trip that ended before `fact` started overlaps it by no positive time: only the trips
    # after that point of the list (sorted by end) can be marked, in the list's order as before.
    first = bisect.bisect_right(history.trips, fact.started_ts, key=lambda t: t.ts) if p.overlap_min_s > 0 else 0
    for other in history.trips[first:]:
        if other is fact or other.trip_id == fact.trip_id:
            continue
        overlap_s = (min(fact.ts, other.ts) - max(fact.started_ts, other.started_ts)) / 1000.0
        if overlap_s < p.overlap_min_s:
            continue
        _mark(fact, other, "overlapping_trips", round(overlap_s, 1))
        # the tracks are built here, when first needed: few trips overlap another
        if (a := fact.fixes()) and (b := other.fixes()):
            pairs, apart_m = apart_moments(a, b, p)
            if pairs >= p.apart_min_pairs:
                _mark(fact, other, "two_places_at_once", round(apart_m, 1))


def _mark(a: TripFact, b: TripFact, pattern: str, measure: float) -> None:
    a.patterns.setdefault(pattern, {})[b.trip_id] = measure
    b.patterns.setdefault(pattern, {})[a.trip_id] = measure


def apart_moments(a: list[list[float]], b: list[list[float]], p: RiskParams) -> tuple[int, float]:
    """How many fixes of track a have a fix of track b near in time that one phone could not
    have reached, and the largest such distance (m)."""
    tb = [f[0] for f in b]
    pairs, apart = 0, 0.0
    for t, lat, lon in a:
        i = bisect.bisect_left(tb, t)
        near = [j for j in (i - 1, i) if 0 <= j < len(b) and abs(tb[j] - t) <= p.apart_max_dt_s]
        if not near:
            continue
        j = min(near, key=lambda j: abs(tb[j] - t))
        d = float(haversine_m_np(lat, lon, b[j][1], b[j][2]))
        if d >= p.apart_min_m and d > p.apart_speed_mps * abs(tb[j] - t):
            pairs += 1
            apart = max(apart, d)
    return pairs, apart


def repeated_inflation(
    trips: list[TripFact], p: RiskParams, detail: bool = True
) -> list[tuple[str, list[TripFact], dict]]:
    """(pattern, the trips that claimed too much, detail) for each repeated inflation the
    window's trips show. A trip whose alerts a reviewer overturned is not counted as inflated.
    detail=False: the detail is {} (a score-only assessment needs the trips alone)."""
    found = []
    for attr, pattern, ratio in (
        ("fare_ratio", "repeated_fare_inflation", p.inflation_fare_ratio),
        ("distance_ratio", "repeated_distance_inflation", p.inflation_distance_ratio),
    ):
        values = list(map(operator.attrgetter(attr), trips))
        claims = len(values) - values.count(None)
        if claims < p.inflation_min_trips:
            continue
        high = [t for t, v in zip(trips, values) if v is not None and v >= ratio and t.decision != "overturned"]
        if not high:
            continue
        p_honest = binomial_tail(len(high), claims, p.inflation_honest_share)
        if p_honest <= p.inflation_max_p:
            found.append((pattern, high, _detail(attr, ratio, high, claims, p_honest, p) if detail else {}))
    return found


def _detail(attr: str, ratio: float, high: list[TripFact], claims: int, p_honest: float, p: RiskParams) -> dict:
    return {
        "trips": len(high),
        "of": claims,
        "ratio_at_least": ratio,
        "median_ratio": round(float(np.median([getattr(t, attr) for t in high])), 3),
        "honest_share": p.inflation_honest_share,
        "p_honest": float(f"{p_honest:.3g}"),
    }


@functools.lru_cache(maxsize=4096)
def binomial_tail(k: int, n: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q): the regularized incomplete beta I_q(k, n - k + 1). Cached:
    every verdict asks again for its driver's (k, n), which changes only now and then."""
    return float(betainc(k, n - k + 1, q))
