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
from tripguard.io.inputs import PINGS, TRIPS, Message, merge_on_ts, partition_of
from tripguard.io.replay import replay

TRIPGUARD = str(Path(sys.executable).parent / "tripguard")


def replay_cli(pings: Path, trips: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`tripguard replay` as a user runs it: its exit code and what it printed."""
    return subprocess.run(
        [TRIPGUARD, "replay", "--pings", str(pings), "--trips", str(trips), "--out", str(out), *extra],
        capture_output=True,
        text=True,
    )


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
    columns = [
        "type",
        "trip_id",
        "driver_id",
        "city",
        "ts",
        "pickup_lat",
        "pickup_lon",
        "claimed_fare",
        "currency",
        "claimed_distance_m",
    ]
    pl.DataFrame([flat(p) for p in pings]).write_csv(tmp / "pings.csv")
    pl.DataFrame([flat(p) for p in pings]).write_parquet(tmp / "pings.parquet")
    pl.DataFrame([flat(t) for t in trips], schema={c: None for c in columns}).write_csv(tmp / "trips.csv")
    pl.DataFrame([flat(t) for t in trips], schema={c: None for c in columns}).write_parquet(tmp / "trips.parquet")
    return tmp


def outputs(out: Path):
    alerts = sorted(
        json.dumps({k: v for k, v in json.loads(line).items() if k != "detected_at"}, sort_keys=True)
        for line in (out / "alerts.jsonl").read_text().splitlines()
    )
    verdicts = sorted(
        json.dumps(json.loads(line), sort_keys=True) for line in (out / "verdicts.jsonl").read_text().splitlines()
    )
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


@pytest.mark.parametrize("content", [b"", b"\n\n"], ids=["empty", "blank-lines"])
def test_a_pings_file_without_pings_replays_the_trip_events(stream, tmp_path, content):
    pings = tmp_path / "pings.jsonl"
    pings.write_bytes(content)
    done = replay_cli(pings, stream / "trips.jsonl", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["pings"], summary["trips"], summary["dead_letters"]) == (0, 12, 0)
    verdicts = [json.loads(line) for line in (tmp_path / "out" / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == 12 and all(v["pings_used"] == 0 for v in verdicts)


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
    done = replay_cli(tmp_path / bad, stream / "trips.jsonl", tmp_path / "out")
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


@pytest.fixture(scope="module")
def porto_sample(tmp_path_factory):
    """The shipped Porto sample (planned routes, all six fraud kinds) as replay input, with a
    malformed ping line and a ping that breaks the contract."""
    from tripguard.config.files import shipped_path
    from tripguard.simulate.simulator import SimConfig, simulate

    out = tmp_path_factory.mktemp("porto-sample")
    simulate(
        SimConfig(out_dir=out, from_real=shipped_path("porto/trips-sample.csv"), seed=5, fraud_rate=0.6), progress=False
    )
    lines = (out / "pings.jsonl").read_bytes().splitlines(keepends=True)
    bad = [
        b'{"trip_id": "x", "driver_id"\n',
        orjson.dumps({"trip_id": "y", "driver_id": "d", "ts": 1, "lat": 95.0, "lon": 0.0}) + b"\n",
    ]
    (out / "pings.jsonl").write_bytes(b"".join(lines[:7] + bad[:1] + lines[7:20] + bad[1:] + lines[20:]))
    # trip events that break the contract: with trip_ids of every partition (replay --workers
    # validates each partition's in its own process), without a trip_id, not JSON
    trips = (out / "trips.jsonl").read_bytes().splitlines(keepends=True)
    bad_trips = [
        orjson.dumps({"type": "trip_started", "trip_id": f"bad-{k}", "driver_id": "d", "ts": 1, "planned_route": "!"})
        + b"\n"
        for k in range(BAD_TRIP_IDS)
    ] + [b'{"type": "trip_started", "ts": 5}\n', b"{not json\n"]
    (out / "trips.jsonl").write_bytes(b"".join(trips[:3] + bad_trips + trips[3:]))
    return out


BAD_TRIP_IDS = 6


def dead_letters(out: Path):
    return sorted(line for line in (out / "dead_letters.jsonl").read_text().splitlines())


def test_replay_on_two_workers_writes_one_workers_alerts_verdicts_and_dead_letters(porto_sample, tmp_path):
    runs = {}
    for n in (1, 2, 3):
        done = replay_cli(
            porto_sample / "pings.jsonl", porto_sample / "trips.jsonl", tmp_path / f"w{n}", "--workers", str(n)
        )
        assert done.returncode == 0, done.stderr
        runs[n] = outputs(tmp_path / f"w{n}"), dead_letters(tmp_path / f"w{n}")
    (alerts, verdicts), dead = runs[1]
    assert alerts and verdicts and len(dead) == 2 + BAD_TRIP_IDS + 2
    for n in (2, 3):  # the bad trip events' trip_ids fall in every partition
        assert {partition_of(f"bad-{k}".encode(), n) for k in range(BAD_TRIP_IDS)} == set(range(n))
    assert runs[2] == runs[1] and runs[3] == runs[1]
    one, two = (json.loads((tmp_path / f"w{n}" / "summary.json").read_text()) for n in (1, 2))
    for k in ("pings", "trips", "alerts", "alerts_by_kind", "pings_used", "pings_dropped", "dead_letters"):
        assert one[k] == two[k], k
    assert two["workers"] == 2 and not list((tmp_path / "w2").glob(".part-*"))
    # the order of the merged files is fixed: a second run writes the same bytes
    again = replay_cli(porto_sample / "pings.jsonl", porto_sample / "trips.jsonl", tmp_path / "again", "--workers", "2")
    assert again.returncode == 0, again.stderr
    for name in ("verdicts.jsonl", "dead_letters.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()


def test_the_message_path_splits_by_partition_too(stream, tmp_path):
    """CSV input goes message by message (replay.mine): the partitions together are one replay."""
    from functools import partial

    from tripguard.config.settings import Settings
    from tripguard.engine.core import Engine
    from tripguard.io.replay import replay_workers

    one = replay(stream / "pings.csv", stream / "trips.csv", tmp_path / "one")
    two = replay_workers(
        stream / "pings.csv", stream / "trips.csv", tmp_path / "two", 2, partial(Engine.from_settings, Settings())
    )
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert two.summary["trips"] == one.summary["trips"] == 12


def test_workers_0_is_one_line_and_exit_2(stream, tmp_path):
    done = replay_cli(stream / "pings.jsonl", stream / "trips.jsonl", tmp_path / "out", "--workers", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--workers" in done.stderr
