"""The engine's outputs are the contract's: every alert and verdict of a replay validates as its
model with nothing coerced (contract.record builds them from the models' fields), and record
refuses a field the model does not have or a required one left out."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tripguard.config.files import shipped_path
from tripguard.config.settings import Settings
from tripguard.contract import ALERT_KINDS, Alert, DetectorInfo, DroppedCounts, Verdict, record
from tripguard.engine.core import Engine
from tripguard.io.replay import replay
from tripguard.simulate.simulator import SimConfig, simulate


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """A replay of the shipped Porto sample with every fraud kind injected (planned routes, fares)."""
    sim = tmp_path_factory.mktemp("outputs-sim")
    simulate(
        SimConfig(out_dir=sim, from_real=shipped_path("porto/trips-sample.csv"), seed=7, fraud_rate=0.6), progress=False
    )
    out = sim / "out"
    replay(sim / "pings.jsonl", sim / "trips.jsonl", out, progress=False, engine=Engine.from_settings(Settings()))
    return out


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def test_every_alert_is_a_valid_alert_with_nothing_coerced(outputs):
    alerts = _lines(outputs / "alerts.jsonl")
    assert {a["kind"] for a in alerts} == set(ALERT_KINDS)  # every kind's evidence is checked
    for a in alerts:
        assert Alert.model_validate(a, strict=True).model_dump() == a


def test_every_verdict_is_a_valid_verdict_with_nothing_coerced(outputs):
    verdicts = _lines(outputs / "verdicts.jsonl")
    assert len(verdicts) > 10 and any(v["planned_route"] for v in verdicts)
    for v in verdicts:
        assert Verdict.model_validate(v, strict=True).model_dump() == v


def test_record_orders_by_the_model_and_refuses_what_it_does_not_know():
    assert list(record(DroppedCounts, coarse=1, late=2)) == ["late", "coarse"]
    with pytest.raises(TypeError, match=r"unknown fields \['lat'\]"):
        record(DroppedCounts, lat=1)
    with pytest.raises(TypeError, match=r"missing fields \['name', 'params'\]"):
        record(DetectorInfo, version="1")
