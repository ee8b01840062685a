"""tripguard replay: the same stream as JSONL, CSV or Parquet gives the same output; the merge keeps
each file's order; unreadable input is a one-line reason and a non-zero exit."""

import json
import subprocess
import sys
from pathlib import Path

import orjson
import polars as pl
import pytest

from tests.streams import make_stream
from tripguard.inputs import PINGS, TRIPS, Message, merge_on_ts
from tripguard.replay import replay

TRIPGUARD = str(Path(sys.executable).parent / "tripguard")


def flat(obj: dict) -> dict:
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update({f"{k}_{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    messages = make_stream(21, n_trips=12)
    pings = [m["value"] for m in messages if m["source"] == "pings"]
    trips = [m["value"] for m in messages if m["source"] == "trips"]
    (tmp / "pings.jsonl").write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in pings))
    (tmp / "trips.jsonl").write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in trips))
    columns = ["type", "trip_id", "driver_id", "city", "ts", "pickup_lat", "pickup_lon", "claimed_fare", "currency",
               "claimed_distance_m"]
    pl.DataFrame([flat(p) for p in pings]).write_csv(tmp / "pings.csv")
    pl.DataFrame([flat(p) for p in pings]).write_parquet(tmp / "pings.parquet")
    pl.DataFrame([flat(t) for t in trips], schema={c: None for c in columns}).write_csv(tmp / "trips.csv")
    pl.DataFrame([flat(t) for t in trips], schema={c: None for c in columns}).write_parquet(tmp / "trips.parquet")
    return tmp


def outputs(out: Path):
    alerts = sorted(json.dumps({k: v for k, v in json.loads(line).items() if k != "detected_at"}, sort_keys=True)
                    for line in (out / "alerts.jsonl").read_text().splitlines())
    verdicts = sorted(json.dumps(json.loads(line), sort_keys=True) for line in (out / "verdicts.jsonl").read_text().splitlines())
    return alerts, verdicts


def test_jsonl_csv_and_parquet_give_the_same_output(stream):
    results = {}
    for ext in ("jsonl", "csv", "parquet"):
        r = replay(stream / f"pings.{ext}", stream / f"trips.{ext}", stream / f"out-{ext}")
        assert r.summary["dead_letters"] == 0
        results[ext] = outputs(stream / f"out-{ext}")
    assert results["jsonl"] == results["csv"] == results["parquet"]
    alerts, verdicts = results["jsonl"]
    assert len(verdicts) == 12 and any('"teleport"' in a for a in alerts)
    summary = json.loads((stream / "out-jsonl" / "summary.json").read_text())
    assert summary["pings"] > 0 and summary["trips"] == 12 and summary["pings_per_s"] > 0


def test_merge_keeps_each_files_order_a_late_ping_stays_late():
    def msg(source, ts, n):
        return Message(source, n, b"", {"ts": ts}, None, ts)

    pings = [msg(PINGS, 100, 1), msg(PINGS, 300, 2), msg(PINGS, 150, 3), msg(PINGS, 400, 4)]  # line 3 is late
    trips = [msg(TRIPS, 100, 1), msg(TRIPS, 200, 2), msg(TRIPS, 350, 3)]
    order = [(m.source, m.position) for m in merge_on_ts(iter(pings), iter(trips))]
    assert order == [(TRIPS, 1), (PINGS, 1), (TRIPS, 2), (PINGS, 2), (PINGS, 3), (TRIPS, 3), (PINGS, 4)]


@pytest.mark.parametrize("bad", ["missing.jsonl", "notes.txt", "broken.parquet"])
def test_unreadable_input_is_one_line_and_exit_2(tmp_path, stream, bad):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    done = subprocess.run([TRIPGUARD, "replay", "--pings", str(tmp_path / bad), "--trips", str(stream / "trips.jsonl"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("tripguard: ")


def test_a_bad_message_with_a_later_ts_holds_nothing_back(stream, tmp_path):
    # an invalid ping whose ts lies an hour ahead: were it merged on that ts, every good ping after
    # it in the file would wait behind the trip events of that hour (and arrive "late")
    lines = (stream / "pings.jsonl").read_bytes().splitlines(keepends=True)
    future = max(json.loads(line)["ts"] if line.startswith(b"{") else json.loads(line)[0]["ts"] for line in lines)
    bad = orjson.dumps({"trip_id": "x", "driver_id": "d", "ts": future + 3_600_000, "lat": 95.0, "lon": 0.0}) + b"\n"
    (tmp_path / "pings.jsonl").write_bytes(b"".join(lines[:5] + [bad] + lines[5:]))
    r = replay(tmp_path / "pings.jsonl", stream / "trips.jsonl", tmp_path / "out")
    replay(stream / "pings.jsonl", stream / "trips.jsonl", tmp_path / "clean")
    assert r.summary["dead_letters"] == 1
    assert outputs(tmp_path / "out") == outputs(tmp_path / "clean")
