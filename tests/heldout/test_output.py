"""The generated files are contract v1 traffic: they decode and validate, are ordered as a broker
would deliver them, are deterministic per seed, and use only the held-out half of the real trips."""

from __future__ import annotations

import collections
import csv
import json
import zlib

import numpy as np
import pytest

from evaluation.heldout import schedule
from evaluation.heldout.__main__ import main
from evaluation.heldout.generate import KINDS, build, write
from evaluation.heldout.porto import load_eval_trips
from tests.heldout.conftest import FRAUD_RATE, N_BASE, REAL, REPLICAS
from tripguard.contract import Ping, TripEnded, TripStarted
from tripguard.geo import decode_polyline, route_length_m
from tripguard.io.codec import decode_pings, decode_trip_event


def test_every_ping_message_decodes_and_validates(out_dir):
    lines = (out_dir / "pings.jsonl").read_text().splitlines()
    assert lines
    arrays = 0
    for line in lines:
        rows = decode_pings(line)  # the worker's own decoder: raises on any contract breach
        doc = json.loads(line)
        if isinstance(doc, list):
            arrays += 1
            assert 2 <= len(doc) <= 10
            assert len({p["trip_id"] for p in doc}) == 1
            for p in doc:
                Ping.model_validate(p)
        else:
            Ping.model_validate(doc)
        assert all(r.ts > 1_600_000_000_000 for r in rows)
    assert 0.3 <= arrays / len(lines) <= 0.5  # ~40 % of messages are location batches


def test_trip_events_decode_validate_and_come_in_ts_order(out_dir, emitted):
    _, events, labels = emitted
    ts = []
    for line in (out_dir / "trips.jsonl").read_text().splitlines():
        ev = decode_trip_event(line)
        ts.append(ev.ts)
        if isinstance(ev, TripStarted):
            assert ev.city == "porto"
            if ev.planned_route is not None:
                assert ev.planned_distance_m > 0 and ev.planned_duration_s > 0
        else:
            assert isinstance(ev, TripEnded) and ev.currency == "EUR"
    assert ts == sorted(ts)
    assert set(events) == set(labels)
    for ev in events.values():
        assert set(ev) == {"trip_started", "trip_ended"}
        assert ev["trip_started"]["driver_id"] == ev["trip_ended"]["driver_id"]


def test_pings_lie_within_their_trip_and_arrive_with_latency_late_and_duplicated(emitted):
    pings, events, _ = emitted
    late = dups = 0
    for tid, ps in pings.items():
        ev = events[tid]
        assert all(ev["trip_started"]["ts"] <= p["ts"] <= ev["trip_ended"]["ts"] for p in ps)
        assert {p["driver_id"] for p in ps} == {ev["trip_started"]["driver_id"]}
        newest = -1
        seen = set()
        for p in ps:  # delivery order
            late += p["ts"] < newest
            newest = max(newest, p["ts"])
            key = (p["ts"], p["lat"], p["lon"])
            dups += key in seen
            seen.add(key)
    assert late > 0 and dups > 0


def test_labels_name_one_kind_and_an_eval_half_base(out_dir, emitted, real_trips):
    _, events, labels = emitted
    with open(out_dir / "labels.csv", newline="") as f:
        assert next(csv.reader(f)) == ["trip_id", "kinds", "base", "detail"]
    bases = {t.trip_id for t in real_trips[:N_BASE]}
    for row in labels.values():
        assert row["kinds"] in ("",) + KINDS
        assert row["base"] in bases and zlib.crc32(row["base"].encode()) % 2 == 1
        assert row["detail"]
    assert len(labels) == N_BASE * REPLICAS


def test_loader_keeps_only_the_eval_half_with_five_fixes(tmp_path):
    rows = list(csv.DictReader(open(REAL, newline="")))
    odd = [r for r in rows if zlib.crc32(r["TRIP_ID"].encode()) % 2 == 1]
    even = [r for r in rows if zlib.crc32(r["TRIP_ID"].encode()) % 2 == 0]
    short = dict(odd[0], POLYLINE=json.dumps(json.loads(odd[0]["POLYLINE"])[:4]))
    path = tmp_path / "mix.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([short] + odd[1:6] + even[:6])
    got = load_eval_trips(path)
    assert [t.trip_id for t in got] == sorted(r["TRIP_ID"] for r in odd[1:6])
    assert all(t.n >= 5 for t in got)

    only_dev = tmp_path / "dev.csv"
    with open(only_dev, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(even[:6])
    with pytest.raises(SystemExit):
        main(["--real", str(only_dev), "--seed", "1", "--out", str(tmp_path / "o")])


def test_deterministic_per_seed(real_trips, tmp_path):
    few = real_trips[:8]
    outs = []
    for seed, name in ((3, "a"), (3, "b"), (4, "c")):
        write(build(few, seed, 0.5, 1), tmp_path / name)
        outs.append({f: (tmp_path / name / f).read_bytes() for f in ("pings.jsonl", "trips.jsonl", "labels.csv")})
    assert outs[0] == outs[1]
    assert outs[0]["pings.jsonl"] != outs[2]["pings.jsonl"]


def test_cli_writes_the_four_files(real_trips, tmp_path):
    src = tmp_path / "few.csv"
    rows = [r for r in csv.DictReader(open(REAL, newline="")) if zlib.crc32(r["TRIP_ID"].encode()) % 2 == 1][:6]
    with open(src, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert (
        main(
            ["--real", str(src), "--seed", "5", "--out", str(tmp_path / "o"), "--fraud-rate", "0.5", "--replicas", "2"]
        )
        == 0
    )
    for name in ("pings.jsonl", "trips.jsonl", "labels.csv", "summary.json"):
        assert (tmp_path / "o" / name).stat().st_size > 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["trips"] == 12 and sum(summary["kinds"].values()) == 6


def test_a_driver_never_has_two_trips_at_once(emitted):
    _, events, _ = emitted
    by_driver = collections.defaultdict(list)
    for ev in events.values():
        by_driver[ev["trip_started"]["driver_id"]].append((ev["trip_started"]["ts"], ev["trip_ended"]["ts"]))
    assert any(len(v) > 1 for v in by_driver.values())  # drivers do take several trips
    for spans in by_driver.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans[:-1], spans[1:]):
            assert start > end


def test_poisson_starts_give_the_wanted_concurrency():
    rng = np.random.default_rng(1)
    durations = rng.uniform(300, 1500, 3000)
    starts = schedule.start_times_ms(rng, durations, 150)
    gaps = np.diff(starts) / 1000.0
    assert 0.8 < np.std(gaps) / np.mean(gaps) < 1.2  # exponential gaps: sd = mean
    c = schedule.concurrency([(int(s), int(s + d * 1000)) for s, d in zip(starts, durations)])
    assert 130 <= c["median"] <= 170


def test_honest_noise_is_on_every_kind_of_trip(result):
    per_kind = collections.defaultdict(collections.Counter)
    for t in result.trips:
        per_kind[t.kind or "honest"].update(
            {k: t.counts[k] for k in ("spikes", "zero", "coarse", "late", "duplicates", "tunnel_gaps")}
        )
        per_kind[t.kind or "honest"]["trips"] += 1
    for kind, c in per_kind.items():
        faults = c["spikes"] + c["zero"] + c["coarse"] + c["tunnel_gaps"]
        assert faults > 0 and c["late"] + c["duplicates"] > 0, kind
    roles = collections.Counter(f["_role"] for t in result.trips if t.kind for f in t.fixes)
    assert roles["spike"] and roles["coarse"] and roles["zero"]


def test_device_fields_vary_like_real_phones(emitted):
    pings, _, _ = emitted
    allp = [p for ps in pings.values() for p in ps]
    share = lambda key: np.mean([key in p for p in allp])  # noqa: E731
    assert share("accuracy_m") > 0.6
    assert 0.2 < share("speed_mps") < 0.95 and 0.2 < share("bearing_deg") < 0.95
    assert {p.get("provider") for p in allp} >= {"gps", "fused", "network", None}
    assert {p.get("mock") for p in allp} >= {False, None}
    coarse = [p for p in allp if p.get("accuracy_m", 0) >= 300]
    assert coarse and all(p["accuracy_m"] <= 1500 for p in coarse)
    assert any(p["lat"] == 0.0 and p["lon"] == 0.0 for p in allp)


def test_planned_route_comes_from_the_network_not_the_trace(result):
    from evaluation.heldout.roads import Roads

    roads = Roads()
    with_plan = 0
    for t in result.trips[::REPLICAS]:
        st = t.started
        if "planned_route" not in st:
            continue
        with_plan += 1
        line = decode_polyline(st["planned_route"])
        assert abs(route_length_m(line) / st["planned_distance_m"] - 1) < 0.01
        real = t.base.real
        again = roads.plan(real.lat[0], real.lon[0], real.lat[-1], real.lon[-1])
        assert again is not None and again.polyline == st["planned_route"]
        assert abs(again.duration_s - st["planned_duration_s"]) < 0.1
    assert with_plan > 0


def test_fraud_rate_and_equal_kinds(result):
    counts = collections.Counter(t.kind for t in result.trips)
    fraud = [counts[k] for k in KINDS]
    assert sum(fraud) == round(FRAUD_RATE * len(result.trips))
    assert max(fraud) - min(fraud) <= 1
