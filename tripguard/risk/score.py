"""A driver's score, level, windows and evidence at one event time.

Each trip j of the 30-day window weighs d_j = 0.5 ** (age_j / half_life) and is fraud with
probability e_j: 1 when a reviewer upheld its alerts, else 1 - prod(1 - precision_k) over its
root alert kinds (none when a reviewer overturned them) and the patterns it is part of. With

    N = sum d_j      C = sum d_j e_j
    rate ~ Beta(prior_trips * prior_rate + C, prior_trips * (1 - prior_rate) + N - C)

the score is P(rate > reference_rate): the probability that the driver commits fraud on more
than reference_rate of their trips. One ambiguous alert moves it little (the prior outweighs it);
repeated evidence and upheld decisions move it far; overturned decisions take their trip's alerts
out. The level is high from high_score, medium from medium_score.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.special import betainc

from tripguard.contract import ALERT_KINDS
from tripguard.risk.history import WINDOW_MS, DriverHistory, TripFact
from tripguard.risk.params import PATTERNS, RiskParams
from tripguard.risk.patterns import repeated_inflation

MODEL = {"name": "beta_rate", "version": "1"}
WINDOWS = {"1h": 3_600_000, "24h": 86_400_000, "30d": WINDOW_MS}
MAX_EVIDENCE_TRIPS = 20
MAX_DECISIONS = 20
NO_PATTERNS: frozenset[str] = frozenset()  # of a trip that in_pattern leaves out


@dataclass
class Assessment:
    score: float
    level: str
    windows: dict
    evidence: dict
    model: dict


def level_of(score: float, p: RiskParams) -> str:
    return "high" if score >= p.high_score else "medium" if score >= p.medium_score else "low"


def trip_fraud_probability(trip: TripFact, patterns: set[str] | frozenset[str], p: RiskParams) -> float:
    if trip.decision == "upheld":
        return 1.0
    signals = list(patterns) if trip.decision == "overturned" else [*trip.kinds, *patterns]
    clean = 1.0
    for signal in signals:
        clean *= 1.0 - p.precision(signal)
    return 1.0 - clean


def window(history: DriverHistory, at_ms: int) -> list[TripFact]:
    """The trips that ended in (at_ms - 30 d, at_ms], not to be changed. At the newest event
    time (every record's assessment) that is the whole list, sorted by end: its ends tell."""
    trips = history.trips
    if trips and trips[0].ts > at_ms - WINDOW_MS and trips[-1].ts <= at_ms:
        return trips
    return [t for t in trips if at_ms - WINDOW_MS < t.ts <= at_ms]


def pattern_sets(trips: list[TripFact]) -> dict[str, set[str]]:
    """trip_id -> the pairwise patterns (stored with the trips) it shares with another trip of
    the window. Only the trips that have some: most have none, and every verdict assesses."""
    linked = [t for t in trips if t.patterns]
    if not linked:
        return {}
    in_window = {t.trip_id for t in trips}
    return {t.trip_id: {k for k, others in t.patterns.items() if any(o in in_window for o in others)} for t in linked}


def assess(history: DriverHistory, p: RiskParams, at_ms: int, explain: bool = True) -> Assessment:
    """explain=False: the score and level only (windows, evidence and model are {})."""
    trips = window(history, at_ms)
    # patterns per trip: the pairwise ones are stored with the trips, inflation is over the window
    in_pattern = pattern_sets(trips)
    inflation = repeated_inflation(trips, p, detail=explain)
    for pattern, high, _ in inflation:
        for t in high:
            in_pattern.setdefault(t.trip_id, set()).add(pattern)

    half_life_ms = p.half_life_days * 86_400_000
    n = c = 0.0
    weight: dict[str, float] = {}
    for t in trips:
        decay = 0.5 ** ((at_ms - t.ts) / half_life_ms)
        n += decay
        # a trip without alerts, decision or pattern (most) has e = 0: it adds nothing to c
        if t.kinds or t.decision is not None or t.trip_id in in_pattern:
            e = trip_fraud_probability(t, in_pattern.get(t.trip_id, NO_PATTERNS), p)
            c += decay * e
            if e > 0:
                weight[t.trip_id] = decay * e
    a = p.prior_trips * p.prior_rate + c
    b = p.prior_trips * (1.0 - p.prior_rate) + (n - c)
    score = float(1.0 - betainc(a, b, p.reference_rate))
    score = round(min(1.0, max(0.0, score)), 4)
    if not explain:
        return Assessment(score, level_of(score, p), {}, {}, {})

    decisions = [d for d in history.decisions if at_ms - WINDOW_MS < d.decided_at <= at_ms]
    findings = [
        {"pattern": pattern, "trip_ids": [t.trip_id for t in high][-MAX_EVIDENCE_TRIPS:], "detail": detail}
        for pattern, high, detail in inflation
    ]
    for pattern in ("overlapping_trips", "two_places_at_once"):
        members = [t for t in trips if pattern in in_pattern.get(t.trip_id, NO_PATTERNS)]
        if members:
            measures = [m for t in members for m in t.patterns[pattern].values()]
            key = "max_overlap_s" if pattern == "overlapping_trips" else "max_apart_m"
            findings.append(
                {
                    "pattern": pattern,
                    "trip_ids": [t.trip_id for t in members][-MAX_EVIDENCE_TRIPS:],
                    "detail": {"trips": len(members), key: max(measures)},
                }
            )

    kinds = []
    for kind in (*ALERT_KINDS, *PATTERNS):
        count = sum(1 for t in trips if kind in t.kinds or kind in in_pattern.get(t.trip_id, NO_PATTERNS))
        if count:
            kinds.append({"kind": kind, "trips": count, "precision": p.precision(kind)})
    evidence = {
        "trip_ids": sorted(weight, key=lambda tid: (-weight[tid], tid))[:MAX_EVIDENCE_TRIPS],
        "kinds": kinds,
        "decisions": [
            {"event_id": d.event_id, "trip_id": d.trip_id, "decision": d.decision, "decided_at": d.decided_at}
            for d in reversed(decisions)
        ][:MAX_DECISIONS],
        "patterns": findings,
    }
    model = {
        **MODEL,
        "params": p.model_params(),
        "trips_weighted": round(n, 4),
        "fraud_weighted": round(c, 4),
        "rate_mean": round(a / (a + b), 5),
    }
    return Assessment(score, level_of(score, p), windows(trips, decisions, in_pattern, at_ms), evidence, model)


def windows(trips: list[TripFact], decisions, in_pattern: dict[str, set[str]], at_ms: int) -> dict:
    """in_pattern: as assess has it (a trip in no pattern may be missing)."""
    out = {}
    for name, span in WINDOWS.items():
        ts = [t for t in trips if t.ts > at_ms - span]
        ds = [d for d in decisions if d.decided_at > at_ms - span]
        alerts = {k: sum(1 for t in ts if k in t.kinds or k in t.secondary) for k in ALERT_KINDS}
        patterns = {k: sum(1 for t in ts if k in in_pattern.get(t.trip_id, NO_PATTERNS)) for k in PATTERNS}
        out[name] = {
            "trips": len(ts),
            "alerts": {k: v for k, v in alerts.items() if v},
            "patterns": {k: v for k, v in patterns.items() if v},
            "upheld": sum(1 for d in ds if d.decision == "upheld"),
            "overturned": sum(1 for d in ds if d.decision == "overturned"),
        }
    return out
