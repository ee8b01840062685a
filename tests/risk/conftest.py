from __future__ import annotations

from pathlib import Path

import pytest

from tripguard.io.codec import dumps
from tripguard.io.replay import replay
from tripguard.simulate.reviews import simulate_reviews
from tripguard.simulate.simulator import SimConfig, simulate


def make_fleet(d: Path, seed: int, trips: int = 900) -> Path:
    """A small fleet (60 drivers, 10 % repeat offenders, synthetic trips) replayed with simulated
    reviewers' decisions: DIR/{drivers.csv, labels.csv, decisions.jsonl, out/...}."""
    simulate(
        SimConfig(out_dir=d, trips=trips, seed=seed, fleet=60, repeat_offenders=0.1, fraud_rate=0.01, concurrency=15),
        progress=False,
    )
    replay(d / "pings.jsonl", d / "trips.jsonl", d / "first", keep=False)
    decisions = simulate_reviews(d / "labels.csv", d / "first" / "alerts.jsonl", seed=seed)
    (d / "decisions.jsonl").write_bytes(b"".join(dumps(x) + b"\n" for x in decisions))
    replay(d / "pings.jsonl", d / "trips.jsonl", d / "out", keep=False, decisions=d / "decisions.jsonl")
    return d


@pytest.fixture(scope="session")
def fleet_run(tmp_path_factory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("fleet"), seed=4)


@pytest.fixture(scope="session")
def tune_fleet(tmp_path_factory) -> Path:
    """Another fleet (another seed), to choose parameters on."""
    return make_fleet(tmp_path_factory.mktemp("tune-fleet"), seed=5, trips=600)
