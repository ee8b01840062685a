"""tripguard evaluate: per-kind precision, recall, F1 and the false-alert rate on honest trips."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tripguard.errors import InputError
from tripguard.offline.evaluate import evaluate, read_alerted, read_labels

TRIPGUARD = str(Path(sys.executable).parent / "tripguard")


def test_metrics_by_hand():
    labels = {"a": {"teleport"}, "b": {"teleport"}, "c": set(), "d": set(), "e": {"fare_inflation"}}
    alerted = {"a": {"teleport"}, "c": {"teleport", "gps_spoofing"}, "e": {"fare_inflation"}, "zz": {"teleport"}}
    r = evaluate(labels, alerted)
    t = r["kinds"]["teleport"]
    assert (t["tp"], t["fp"], t["fn"]) == (1, 1, 1)
    assert t["precision"] == 0.5 and t["recall"] == 0.5 and t["f1"] == 0.5
    assert t["false_alert_rate_honest"] == 0.5  # c of the honest c, d
    assert r["kinds"]["fare_inflation"]["precision"] == 1.0 and r["kinds"]["route_deviation"]["precision"] is None
    assert r["false_alert_rate_honest"] == 0.5 and r["honest_trips"] == 2 and r["alerts_for_unlabelled_trips"] == 1


def test_cli_table_and_json(tmp_path):
    (tmp_path / "labels.csv").write_text("trip_id,kinds,detail\na,teleport,x\nb,,\nc,route_deviation;fare_inflation,\n")
    (tmp_path / "alerts.jsonl").write_text(
        "".join(json.dumps({"trip_id": t, "kind": k}) + "\n" for t, k in [("a", "teleport"), ("c", "fare_inflation")])
    )
    table = subprocess.run(
        [TRIPGUARD, "evaluate", "--labels", str(tmp_path / "labels.csv"), "--alerts", str(tmp_path / "alerts.jsonl")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "teleport" in table and "honest trips: 1, with any alert: 0 (0.00%, 95 % CI [0.00%, " in table
    assert "confusion" in table
    report = json.loads(
        subprocess.run(
            [
                TRIPGUARD,
                "evaluate",
                "--labels",
                str(tmp_path / "labels.csv"),
                "--alerts",
                str(tmp_path / "alerts.jsonl"),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert report["kinds"]["route_deviation"]["recall"] == 0.0 and report["kinds"]["fare_inflation"]["recall"] == 1.0


def test_bad_files_are_clear_errors(tmp_path):
    (tmp_path / "labels.csv").write_text("trip,kind\na,b\n")
    with pytest.raises(InputError, match="trip_id,kinds"):
        read_labels(tmp_path / "labels.csv")
    (tmp_path / "l2.csv").write_text("trip_id,kinds\na,warp_drive\n")
    with pytest.raises(InputError, match="unknown kind"):
        read_labels(tmp_path / "l2.csv")
    (tmp_path / "a.jsonl").write_text('{"trip_id": "a"}\n')
    with pytest.raises(InputError, match="not an alert"):
        read_alerted(tmp_path / "a.jsonl")
