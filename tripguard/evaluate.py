"""`tripguard evaluate`: per-kind precision, recall and F1 against labels, and the false-alert
rate on honest trips. A trip counts as flagged for a kind when it has at least one alert of it."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import orjson

from tripguard.contract import ALERT_KINDS
from tripguard.errors import InputError


def read_labels(path: Path) -> dict[str, set[str]]:
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"trip_id", "kinds"} <= set(reader.fieldnames):
                raise InputError(f"{path}: needs columns trip_id,kinds")
            labels = {}
            for row in reader:
                kinds = {k.strip() for k in (row["kinds"] or "").split(";") if k.strip()}
                unknown = kinds - set(ALERT_KINDS)
                if unknown:
                    raise InputError(f"{path}: trip {row['trip_id']}: unknown kind(s) {', '.join(sorted(unknown))}")
                labels[row["trip_id"]] = kinds
            return labels
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None


def read_alerted(path: Path) -> dict[str, set[str]]:
    alerted: dict[str, set[str]] = defaultdict(set)
    try:
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    a = orjson.loads(line)
                    alerted[a["trip_id"]].add(a["kind"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise InputError(f"{path}:{lineno}: not an alert (needs trip_id and kind)") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    return alerted


def evaluate(labels: dict[str, set[str]], alerted: dict[str, set[str]]) -> dict:
    honest = [t for t, k in labels.items() if not k]
    per_kind = {}
    for kind in ALERT_KINDS:
        tp = sum(1 for t, k in labels.items() if kind in k and kind in alerted.get(t, ()))
        fp = sum(1 for t, k in labels.items() if kind not in k and kind in alerted.get(t, ()))
        fn = sum(1 for t, k in labels.items() if kind in k and kind not in alerted.get(t, ()))
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision is not None and recall is not None and precision + recall > 0 else None)
        honest_flagged = sum(1 for t in honest if kind in alerted.get(t, ()))
        per_kind[kind] = {
            "labelled": tp + fn, "alerted": tp + fp, "tp": tp, "fp": fp, "fn": fn,
            "precision": precision, "recall": recall, "f1": f1,
            "false_alert_rate_honest": honest_flagged / len(honest) if honest else None,
        }
    honest_any = sum(1 for t in honest if alerted.get(t))
    return {
        "trips": len(labels),
        "honest_trips": len(honest),
        "fraud_trips": len(labels) - len(honest),
        "false_alert_rate_honest": honest_any / len(honest) if honest else None,
        "honest_trips_alerted": honest_any,
        "alerts_for_unlabelled_trips": sum(1 for t in alerted if t not in labels),
        "kinds": per_kind,
    }


def format_table(report: dict) -> str:
    def f(x):
        return "   -  " if x is None else f"{x:6.3f}"

    lines = [
        f"{'kind':18} {'labelled':>8} {'alerted':>8} {'precision':>9} {'recall':>7} {'F1':>7} {'FAR honest':>10}",
    ]
    for kind, r in report["kinds"].items():
        lines.append(f"{kind:18} {r['labelled']:8d} {r['alerted']:8d} {f(r['precision']):>9} {f(r['recall']):>7} "
                     f"{f(r['f1']):>7} {f(r['false_alert_rate_honest']):>10}")
    far = report["false_alert_rate_honest"]
    lines.append(f"honest trips: {report['honest_trips']}, alerted: {report['honest_trips_alerted']} "
                 f"(false-alert rate {far:.3%})" if far is not None else "honest trips: 0")
    return "\n".join(lines)
