"""Alerts of contract v1 from findings: deterministic ids, severity from score."""

from __future__ import annotations

import hashlib

from tripguard.detectors import Finding
from tripguard.trips import TripMeta


def alert_id(trip_id: str, kind: str, ts: int) -> str:
    """Same trip, kind and evidence time -> same id, so a replay after a crash repeats ids."""
    return hashlib.sha256(f"tripguard/v1|{trip_id}|{kind}|{ts}".encode()).hexdigest()[:32]


def severity(score: float) -> str:
    return "high" if score >= 0.8 else "medium" if score >= 0.5 else "low"


def make_alert(meta: TripMeta, finding: Finding, now_ms: int) -> dict:
    score = round(min(1.0, max(0.0, finding.score)), 4)
    return {
        "alert_id": alert_id(meta.trip_id, finding.kind, finding.ts),
        "trip_id": meta.trip_id,
        "driver_id": meta.driver_id,
        "city": meta.city,
        "kind": finding.kind,
        "severity": finding.severity or severity(score),
        "score": score,
        "ts": int(finding.ts),
        "detected_at": int(now_ms),
        "evidence": finding.evidence,
        "detector": {"name": finding.detector, "version": finding.version, "params": finding.params},
    }
