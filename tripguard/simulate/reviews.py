"""Reviewers' decisions for a simulated run (`tripguard simulate-reviews`): which flagged trips
drivers dispute and what reviewers decide, from the labels that say what really happened.

A flagged trip is disputed by its driver with probability `dispute_wrong` when none of its alert
kinds is what the trip really was (the driver is right to complain), `dispute_right` when one is
(a fraudster tries their luck). A reviewer decides correctly with probability `reviewer_accuracy`:
upheld when the trip really was one of its alert kinds, else overturned. Decisions come hours to
days after the trip (decided_at), in the review service's format with its deterministic event_id
(tripguard.review.store.disputes), so they can be replayed (`tripguard replay --decisions`) or fed to
`tripguard tune`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from tripguard.errors import InputError
from tripguard.offline.evaluate import read_labels
from tripguard.review.store.disputes import decision_event_id

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class ReviewModel:
    dispute_wrong: float = 0.8
    dispute_right: float = 0.2
    reviewer_accuracy: float = 0.95


def read_alerts_by_trip(path: Path) -> dict[str, list[dict]]:
    by_trip: dict[str, list[dict]] = defaultdict(list)
    try:
        with open(path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        a = orjson.loads(line)
                        by_trip[a["trip_id"]].append(a)
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        raise InputError(f"{path}:{number}: not an alert (needs trip_id)") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return by_trip


def simulate_reviews(
    labels_path: Path, alerts_path: Path, seed: int = 0, model: ReviewModel = ReviewModel()
) -> list[dict]:
    """Decision events (tripguard.decisions values), in decided_at order."""
    labels, _ = read_labels(labels_path)
    out = []
    for n, (trip_id, alerts) in enumerate(sorted(read_alerts_by_trip(alerts_path).items())):
        rng = np.random.default_rng([seed, 17, n])
        kinds = sorted({a["kind"] for a in alerts})
        right = bool(set(kinds) & labels.get(trip_id, set()))
        if rng.random() >= (model.dispute_right if right else model.dispute_wrong):
            continue
        correct = rng.random() < model.reviewer_accuracy
        decision = "upheld" if right == correct else "overturned"
        last_ts = max(a["ts"] for a in alerts)
        disputed_at = last_ts + int(rng.uniform(0.2, 2.0) * HOUR_MS)
        decided_at = disputed_at + int(rng.uniform(2.0, 72.0) * HOUR_MS)
        dispute = {"id": n + 1, "trip_id": trip_id, "decided_at": decided_at, "decision": decision}
        out.append(
            {
                "event_id": decision_event_id(dispute),
                "dispute_id": n + 1,
                "trip_id": trip_id,
                "driver_id": alerts[0]["driver_id"],
                "city": alerts[0]["city"],
                "decision": decision,
                "note": "simulated review",
                "decided_at": decided_at,
                "decided_by": None,
                "disputed_at": disputed_at,
                "kinds": kinds,
                "alert_ids": sorted(a["alert_id"] for a in alerts),
            }
        )
    out.sort(key=lambda d: (d["decided_at"], d["event_id"]))
    return out
