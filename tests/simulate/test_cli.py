"""`tripguard simulate` on the command line: files written, one-line reasons on bad arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tripguard.cli import app
from tripguard.config.files import shipped_path

runner = CliRunner()


def test_cli_writes_the_three_files_and_a_summary(tmp_path):
    result = runner.invoke(app, ["simulate", "--trips", "12", "--seed", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("pings.jsonl", "trips.jsonl", "labels.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "labels.csv").read_text().splitlines()[0] == "trip_id,kinds,detail,base"
    assert "12 trips" in result.output


def test_cli_from_real_reports_skipped_trips(tmp_path):
    sample = shipped_path("porto/trips-sample.csv")
    result = runner.invoke(app, ["simulate", "--from-real", str(sample), "--trips", "8", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "with < 5 fixes" in result.output


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--trips", "0"], "--trips must be >= 1"),
        (["--fraud-rate", "1.5"], "--fraud-rate must be in [0, 1]"),
        (["--kinds", "teleport,warp"], "unknown kind(s) warp"),
        (["--interval-s", "0.1"], "--interval-s must be in [1, 60]"),
        (["--concurrency", "0"], "--concurrency must be >= 1"),
        (["--start-ts", "-5"], "--start-ts must be milliseconds"),
        (["--from-real", "/nonexistent.csv"], "no such file"),
    ],
)
def test_cli_bad_arguments_exit_non_zero_with_one_line(tmp_path, args, reason):
    # through main(), as the installed `tripguard` script runs it
    proc = subprocess.run(
        [sys.executable, "-c", "from tripguard.cli import main; main()", "simulate", "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], proc.stderr
