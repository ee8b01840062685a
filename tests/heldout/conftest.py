"""One small generated data set shared by the held-out generator's tests (built once per session)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from evaluation.heldout.generate import build, write
from evaluation.heldout.porto import load_eval_trips

REAL = Path(__file__).resolve().parents[1] / "data" / "porto-trips-200.csv"
SEED = 7
N_BASE = 40
REPLICAS = 2
FRAUD_RATE = 0.6  # high, so every kind appears several times in a small set


@pytest.fixture(scope="session")
def real_trips():
    return load_eval_trips(REAL)


@pytest.fixture(scope="session")
def result(real_trips):
    return build(
        real_trips[:N_BASE], SEED, FRAUD_RATE, REPLICAS, concurrent=15
    )  # few trips: fewer at once, so drivers repeat


@pytest.fixture(scope="session")
def out_dir(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("heldout")
    write(result, out)
    return out


@pytest.fixture(scope="session")
def emitted(out_dir):
    """What was written: pings per trip (as delivered), trip events per trip, label rows."""
    import csv

    pings = collections.defaultdict(list)
    for line in (out_dir / "pings.jsonl").read_text().splitlines():
        doc = json.loads(line)
        for p in doc if isinstance(doc, list) else [doc]:
            pings[p["trip_id"]].append(p)
    events = collections.defaultdict(dict)
    for line in (out_dir / "trips.jsonl").read_text().splitlines():
        e = json.loads(line)
        events[e["trip_id"]][e["type"]] = e
    with open(out_dir / "labels.csv", newline="") as f:
        labels = {r["trip_id"]: r for r in csv.DictReader(f)}
    return pings, events, labels
