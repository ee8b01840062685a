"""Alerts of contract v1 from findings: deterministic ids, severity from score."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic.dataclasses import dataclass

from tripguard.config.files import PARAMS
from tripguard.contract import Alert, DetectorInfo, record
from tripguard.detectors import Finding
from tripguard.engine.trips import TripMeta


def alert_id(trip_id: str, kind: str, ts: int) -> str:
    """Same trip, kind and evidence time -> same id, so a replay after a crash repeats ids."""
    return hashlib.sha256(f"tripguard/v1|{trip_id}|{kind}|{ts}".encode()).hexdigest()[:32]


def severity(score: float) -> str:
    return "high" if score >= 0.8 else "medium" if score >= 0.5 else "low"


def make_alert(meta: TripMeta, finding: Finding, now_ms: int) -> dict[str, Any]:
    """The contract's Alert of a finding, as the plain dict the outputs carry (contract.record)."""
    score = round(min(1.0, max(0.0, finding.score)), 4)
    return record(
        Alert,
        alert_id=alert_id(meta.trip_id, finding.kind, finding.ts),
        trip_id=meta.trip_id,
        driver_id=meta.driver_id,
        city=meta.city,
        kind=finding.kind,
        severity=finding.severity or severity(score),
        score=score,
        ts=int(finding.ts),
        detected_at=int(now_ms),
        evidence=finding.evidence,
        detector=record(DetectorInfo, name=finding.detector, version=finding.version, params=finding.params),
    )


@dataclass(frozen=True, config=PARAMS)
class AlertThresholds:
    """[<city>.alerts] of cities.toml: the least score an alert of each kind needs to be raised.
    0 everywhere in the shipped file; `tripguard tune` proposes higher ones where reviewers'
    decisions show a kind's low-scoring alerts to be mostly wrong (docs/risk.md)."""

    teleport_min_score: float = 0.0
    impossible_speed_min_score: float = 0.0
    route_deviation_min_score: float = 0.0
    fare_inflation_min_score: float = 0.0
    distance_mismatch_min_score: float = 0.0
    gps_spoofing_min_score: float = 0.0

    def min_score(self, kind: str) -> float:
        return getattr(self, f"{kind}_min_score")
