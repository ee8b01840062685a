"""`tripguard tune`: what reviewers' decisions say about each city's alert kinds, as a cities.toml
override that changes nothing until an operator passes it with `--cities`.

Per city and kind, the decided alerts (an alert named by a decision's alert_ids; the latest
decision of a trip counts) give the kind's precision: upheld / decided. When that is below the
target, the least `[<city>.alerts] <kind>_min_score` at which the decided alerts scoring at least
that are precise enough (and at least `min_kept` of them remain) is proposed; when no score
gets there, one above every decided alert's (the kind is muted until more is known). The kind's
`[<city>.risk] <kind>_precision` (what an undecided alert of the kind weighs in the driver-risk
score) becomes the smoothed precision, (upheld + 1) / (decided + 2), of the alerts the threshold
keeps. A kind with fewer than `min_decided` decisions keeps its values. Every proposed value has
its evidence beside it in the file (counts, precision, the chosen threshold, why).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import orjson

from tripguard.config.files import CityTables
from tripguard.contract import ALERT_KINDS, Decision
from tripguard.engine.alerts import AlertThresholds
from tripguard.errors import ContractError, InputError
from tripguard.risk.params import RiskParams
from tripguard.risk.stage import DECISION, parse

FORMAT = "tripguard-tune/1"
MUTE_ABOVE = 1e-6  # a muted kind's threshold is this much above its highest decided score


@dataclass
class KindEvidence:
    city: str
    kind: str
    decided: int
    upheld: int
    current_min_score: float
    current_precision: float
    min_score: float | None = None  # proposed (None: unchanged)
    precision: float | None = None  # proposed [risk] precision (None: unchanged)
    kept: int = 0
    kept_upheld: int = 0
    why: str = ""

    @property
    def observed(self) -> float:
        return self.upheld / self.decided if self.decided else 0.0


def _read_jsonl(path: Path, what: str) -> list[tuple[int, bytes]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--{what} {path}: cannot read ({exc.strerror})") from None
    return [(n, line) for n, line in enumerate(data.splitlines(), 1) if line.strip()]


def read_decided(decisions: Path, alerts: Path) -> tuple[dict[tuple[str, str], list[tuple[float, bool]]], int]:
    """(city, kind) -> [(alert score, upheld)], and the number of decisions that named no alert
    of the alerts file (left out)."""
    by_id: dict[str, dict] = {}
    for n, line in _read_jsonl(alerts, "alerts"):
        try:
            a = orjson.loads(line)
            by_id[a["alert_id"]] = {"city": a["city"], "kind": a["kind"], "score": float(a["score"])}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InputError(f"--alerts {alerts}:{n}: not an alert (needs alert_id, city, kind, score)") from None
    latest: dict[str, Decision] = {}
    for n, line in _read_jsonl(decisions, "decisions"):
        try:
            d = cast(Decision, parse(DECISION, line))
        except ContractError as exc:
            raise InputError(f"--decisions {decisions}:{n}: {exc}") from None
        seen = latest.get(d.trip_id)
        if seen is None or (d.decided_at, d.event_id) > (seen.decided_at, seen.event_id):
            latest[d.trip_id] = d
    decided: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    unmatched = 0
    for d in latest.values():
        named = [by_id[a] for a in d.alert_ids if a in by_id]
        if not named:
            unmatched += 1
        for a in named:
            decided.setdefault((a["city"], a["kind"]), []).append((a["score"], d.decision == "upheld"))
    return decided, unmatched


def choose(ev: KindEvidence, scored: list[tuple[float, bool]], target: float, min_decided: int, min_kept: int) -> None:
    if ev.decided < min_decided:
        ev.why = f"{ev.decided} decided alert(s), fewer than {min_decided}: unchanged"
        return
    if ev.observed >= target:
        ev.kept, ev.kept_upheld = ev.decided, ev.upheld
        ev.precision = round((ev.upheld + 1) / (ev.decided + 2), 4)
        ev.why = (
            f"precision {ev.observed:.3f} of {ev.decided} decided >= target {target:g}: threshold unchanged, "
            f"risk precision {ev.current_precision:g} -> {ev.precision:g}"
        )
        return
    for t in sorted({s for s, _ in scored}):
        if t < ev.current_min_score:
            continue
        kept = [u for s, u in scored if s >= t]
        if len(kept) >= min_kept and sum(kept) / len(kept) >= target:
            ev.min_score, ev.kept, ev.kept_upheld = round(t, 6), len(kept), sum(kept)
            ev.precision = round((ev.kept_upheld + 1) / (ev.kept + 2), 4)
            ev.why = (
                f"precision {ev.observed:.3f} of {ev.decided} decided < target {target:g}: at score >= {t:.4g} "
                f"{ev.kept_upheld} of {ev.kept} upheld (precision {ev.kept_upheld / ev.kept:.3f}): "
                f"min_score {ev.current_min_score:g} -> {ev.min_score:g}"
            )
            return
    top = max(s for s, _ in scored)
    ev.min_score = round(top + MUTE_ABOVE, 6)
    ev.precision = round((ev.upheld + 1) / (ev.decided + 2), 4)
    ev.why = (
        f"precision {ev.observed:.3f} of {ev.decided} decided < target {target:g} and no score keeps "
        f"{min_kept}+ alerts at the target: muted (min_score {ev.current_min_score:g} -> {ev.min_score:g}, above "
        f"every decided alert)"
    )


def tune(
    decisions: Path, alerts: Path, cities: CityTables, target: float = 0.8, min_decided: int = 20, min_kept: int = 5
) -> list[KindEvidence]:
    decided, _ = read_decided(decisions, alerts)
    out = []
    for (city, kind), scored in sorted(decided.items()):
        if kind not in ALERT_KINDS:
            continue
        ev = KindEvidence(
            city,
            kind,
            len(scored),
            sum(u for _, u in scored),
            cities.params(AlertThresholds, city, "alerts").min_score(kind),
            cities.params(RiskParams, city, "risk").precision(kind),
        )
        choose(ev, scored, target, min_decided, min_kept)
        out.append(ev)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def override_text(
    evidence: list[KindEvidence],
    decisions: Path,
    alerts: Path,
    target: float,
    min_decided: int,
    min_kept: int,
    base: str,
) -> str:
    lines = [
        "# A cities.toml override written by `tripguard tune`: nothing changes until it is passed with",
        "# `--cities FILE`. Every value has its evidence in the comment above it.",
        f"# format: {FORMAT}",
        f"# decisions: {decisions} (sha256 {_sha256(decisions)})",
        f"# alerts: {alerts} (sha256 {_sha256(alerts)})",
        f"# base: {base}",
        f"# target precision {target:g}; at least {min_decided} decided alerts per kind; a threshold keeps at "
        f"least {min_kept}",
    ]
    for city in sorted({e.city for e in evidence}):
        mine = [e for e in evidence if e.city == city]
        for section, attr, key in (("alerts", "min_score", "{}_min_score"), ("risk", "precision", "{}_precision")):
            changed = [e for e in mine if getattr(e, attr) is not None]
            if not changed:
                continue
            lines += ["", f"[{city}.{section}]"]
            for e in changed:
                lines.append(
                    f"# {e.kind}: {e.decided} decided ({e.upheld} upheld, {e.decided - e.upheld} overturned); {e.why}"
                )
                lines.append(f"{key.format(e.kind)} = {getattr(e, attr)!r}")
        unchanged = [e for e in mine if e.min_score is None and e.precision is None]
        if unchanged:
            lines += ["", f"# {city}, unchanged:"] + [f"#   {e.kind}: {e.why}" for e in unchanged]
    return "\n".join(lines) + "\n"
