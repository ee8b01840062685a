"""How well the driver-risk score ranks a simulated fleet's repeat offenders (docs/risk.md).

Every driver's score is taken at one time, the end of the run (the stage over the run's verdicts
and decisions, then `assess` at the last event time), so that all are judged on the same clock.
The top k drivers (k = the number of repeat offenders) are compared with the offenders, beside
the same ranking by the raw count of alerts. Ties at the k-th place are shared out: a tie group
that straddles the cut counts each of its offenders by the share of the group inside it (the
expectation of a random tie-break), so a ranking that cannot tell drivers apart gets no credit.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import orjson

from tripguard.config.files import CityTables
from tripguard.errors import InputError
from tripguard.risk.offline import RiskReplay
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, parse


def read_drivers(path: Path) -> dict[str, dict]:
    try:
        with open(path, newline="") as fh:
            return {r["driver_id"]: r for r in csv.DictReader(fh)}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None


def final_stage(
    verdicts: Path, decisions: Path | None, cities: CityTables | None = None, lateness_ms: int = 2_220_000
) -> RiskStage:
    """The stage after a run's verdicts (in their file's order) and decisions."""
    stage = RiskStage(cities or CityTables.load(), [RiskReplay.SOURCE], lateness_ms)
    if decisions is not None:
        for line in decisions.read_bytes().splitlines():
            if line.strip():
                stage.add(Input(DECISION, parse(DECISION, line)))
    for line in verdicts.read_bytes().splitlines():
        if line.strip():
            stage.add(Input(VERDICT, parse(VERDICT, line), None, RiskReplay.SOURCE))
    stage.flush()
    return stage


def scores_at_end(stage: RiskStage) -> dict[str, float]:
    end = max(h.newest_ts for h in stage.histories.values())
    return {d: stage.assess(d, end).score for d in stage.histories}


def alert_counts(alerts: Path) -> Counter:
    return Counter(orjson.loads(line)["driver_id"] for line in alerts.read_bytes().splitlines() if line.strip())


def kind_precision(alerts: Path, labels: Path) -> dict[str, tuple[int, int]]:
    """Per alert kind: (alerts whose kind is their trip's labelled fraud, alerts)."""
    from tripguard.offline.evaluate import read_labels

    truth, _ = read_labels(labels)
    out: dict[str, list[int]] = {}
    for line in alerts.read_bytes().splitlines():
        if line.strip():
            a = orjson.loads(line)
            counts = out.setdefault(a["kind"], [0, 0])
            counts[0] += a["kind"] in truth.get(a["trip_id"], set())
            counts[1] += 1
    return {k: (tp, n) for k, (tp, n) in out.items()}


def precision_override(precision: dict[str, tuple[int, int]], city: str = "default") -> str:
    """A cities.toml override setting [<city>.risk] <kind>_precision to each kind's smoothed
    precision, (true + 1) / (alerts + 2)."""
    lines = [f"[{city}.risk]"] + [
        f"{k}_precision = {round((tp + 1) / (n + 2), 4)!r}" for k, (tp, n) in sorted(precision.items())
    ]
    return "\n".join(lines) + "\n"


def top_k_hits(scores: dict[str, float], offenders: set[str], drivers: list[str], k: int) -> float:
    """Offenders in the top k by score (ties at the cut shared out)."""
    ranked = sorted(drivers, key=lambda d: -scores.get(d, 0.0))
    if k <= 0:
        return 0.0
    cut = scores.get(ranked[k - 1], 0.0)
    above = [d for d in ranked if scores.get(d, 0.0) > cut]
    tied = [d for d in ranked if scores.get(d, 0.0) == cut]
    room = k - len(above)
    return sum(d in offenders for d in above) + room * sum(d in offenders for d in tied) / len(tied)
