"""Learned corridors: fitted with polars from historical trips, a detour through cells honest trips
of the same origin and destination never use scores high; an ordinary trip does not."""

import json

import numpy as np
import pytest

from tests.streams import build_batches
from tripguard.config.settings import Settings
from tripguard.detectors.learned_corridors import fit, load
from tripguard.engine.core import Engine
from tripguard.errors import InputError
from tripguard.geo import encode_polyline

A = (41.150, -8.640)  # origin and destination 3 km apart, east-west
B = (41.150, -8.604)


def line(a, b, n, rng, noise_deg=0.00005, via=None):
    pts = [a, via, b] if via else [a, b]
    out = []
    for p, q in zip(pts[:-1], pts[1:]):
        t = np.linspace(0, 1, n)
        out.append(np.column_stack([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]))
    arr = np.vstack(out)
    return arr + rng.normal(0, noise_deg, arr.shape)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("lc") / "history.jsonl"
    with open(path, "w") as fh:
        for k in range(80):  # honest history: two nearby streets between A and B
            off = 0.0 if k % 2 else 0.0015
            pts = line((A[0] + off, A[1]), (B[0] + off, B[1]), 40, rng)
            fh.write(json.dumps({"trip_id": f"h{k}", "kinds": [], "path": encode_polyline(pts)}) + "\n")
        # a flagged trip in the history is not learned from
        pts = line(A, B, 40, rng, via=(41.175, -8.62))
        fh.write(json.dumps({"trip_id": "bad", "kinds": ["route_deviation"], "path": encode_polyline(pts)}) + "\n")
    out = path.parent / "model.parquet"
    fit(path).write_parquet(out)
    return out


def test_detour_scores_high_and_an_ordinary_trip_low(model_path):
    model = load(model_path)
    rng = np.random.default_rng(2)
    ordinary = line(A, B, 40, rng)
    detour = line(A, B, 40, rng, via=(41.175, -8.62))  # 2.8 km north and back
    low = model.score(ordinary[:, 0], ordinary[:, 1], min_pair_trips=50, rare_share=0.05)
    high = model.score(detour[:, 0], detour[:, 1], min_pair_trips=50, rare_share=0.05)
    assert low["pair_trips"] == 80 and low["rare_fraction"] < 0.2
    assert high["rare_fraction"] > 0.6 and high["rare_cells"] >= 10
    assert model.score(detour[:, 0], detour[:, 1], min_pair_trips=81, rare_share=0.05) is None  # too little history


def test_engine_flags_a_detour_without_planned_route(model_path):
    rng = np.random.default_rng(3)
    engine = Engine.from_settings(Settings(corridors=model_path), clock=lambda: 0)
    messages = []
    for trip, pts in (("ok", line(A, B, 40, rng)), ("detour", line(A, B, 40, rng, via=(41.175, -8.62)))):
        t0 = 1_700_000_000_000
        messages.append(
            {
                "source": "trips",
                "value": {
                    "type": "trip_started",
                    "trip_id": trip,
                    "driver_id": "d",
                    "city": "porto",
                    "ts": t0,
                    "pickup": {"lat": float(pts[0, 0]), "lon": float(pts[0, 1])},
                },
            }
        )
        for i, (la, lo) in enumerate(pts):
            messages.append(
                {
                    "source": "pings",
                    "value": {
                        "trip_id": trip,
                        "driver_id": "d",
                        "ts": t0 + 1000 + 4000 * i,
                        "lat": float(la),
                        "lon": float(lo),
                        "accuracy_m": 5.0,
                    },
                }
            )
    out = engine.process(build_batches(messages, [])[0])
    out.extend(engine.flush())
    learned = [a for a in out.alerts if a["detector"]["name"] == "route.learned_corridor"]
    assert [a["trip_id"] for a in learned] == ["detour"]
    assert learned[0]["evidence"]["pair_trips"] == 80


def test_unreadable_history_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="POLYLINE"):
        fit(bad)
