"""`tripguard tune`: reviewers who overturn most alerts of one kind raise that kind's threshold, and
the override says why; kinds reviewers uphold keep theirs; nothing changes until the override is
passed with --cities; bad input is one line and exit 2."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from tests.risk.helpers import MIN, T0, decision, verdict
from tests.test_cli import assert_one_line_error, tripguard_cli
from tripguard.cli import app
from tripguard.config.files import CityTables
from tripguard.engine.alerts import AlertThresholds
from tripguard.risk.params import RiskParams


def write_inputs(tmp_path, n_route: int = 40, n_fare: int = 30):
    """route_deviation alerts scored 0 .. 1 whose lower 60 % reviewers overturn; fare_inflation
    alerts they all uphold."""
    alerts, decisions = [], []
    for i in range(n_route + n_fare):
        kind = "route_deviation" if i < n_route else "fare_inflation"
        v = verdict(f"t{i}", f"d{i % 7}", T0 + i * MIN, T0 + i * MIN + 20 * MIN, (kind,))
        score = round(i / n_route, 4) if i < n_route else 0.9
        alerts.append(
            {
                "alert_id": v["alert_ids"][0],
                "trip_id": v["trip_id"],
                "driver_id": v["driver_id"],
                "city": "porto",
                "kind": kind,
                "score": score,
            }
        )
        upheld = i >= n_route or score >= 0.6
        decisions.append(decision(v, "upheld" if upheld else "overturned", v["ts"] + 60 * MIN, i + 1))
    (tmp_path / "alerts.jsonl").write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    (tmp_path / "decisions.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in decisions))


def tune(tmp_path, *options: str):
    """`tripguard tune` over write_inputs' files; the override file it wrote."""
    out = tmp_path / "tuned.toml"
    args = ["tune", "--decisions", str(tmp_path / "decisions.jsonl"), "--alerts", str(tmp_path / "alerts.jsonl")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    return out


def test_overturned_kind_gets_a_higher_threshold_and_the_file_says_why(tmp_path):
    write_inputs(tmp_path)
    out = tune(tmp_path, "--target", "0.8")
    shipped, tuned = CityTables.load(), CityTables.load(out)
    before = shipped.params(AlertThresholds, "porto", "alerts")
    after = tuned.params(AlertThresholds, "porto", "alerts")
    assert before.route_deviation_min_score == 0.0
    # the least score at which the decided alerts are precise enough: from 0.5 up, 16 of 20 upheld
    assert after.route_deviation_min_score == 0.5
    assert after.fare_inflation_min_score == before.fare_inflation_min_score  # upheld: unchanged
    text = out.read_text()
    assert "format: tripguard-tune/1" in text
    why = next(line for line in text.splitlines() if line.startswith("# route_deviation:"))
    assert (
        "40 decided (16 upheld, 24 overturned)" in why
        and "precision 0.400" in why
        and "16 of 20 upheld" in why
        and "min_score 0 -> 0.5" in why
    )
    # the risk score weighs an undecided route_deviation alert by what the new threshold keeps
    assert tuned.params(RiskParams, "porto", "risk").route_deviation_precision == round(17 / 22, 4)
    assert shipped.params(RiskParams, "porto", "risk") != tuned.params(RiskParams, "porto", "risk")


def test_too_few_decisions_change_nothing(tmp_path):
    write_inputs(tmp_path, n_route=10, n_fare=5)
    out = tune(tmp_path)
    assert CityTables.load(out).section("porto", "alerts") == CityTables.load().section("porto", "alerts")
    assert "fewer than 20: unchanged" in out.read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    write_inputs(tmp_path)
    (tmp_path / "bad.jsonl").write_bytes(b'{"event_id": 1}\n')
    cases = [
        ["--decisions", str(tmp_path / "missing.jsonl"), "--alerts", str(tmp_path / "alerts.jsonl")],
        ["--decisions", str(tmp_path / "bad.jsonl"), "--alerts", str(tmp_path / "alerts.jsonl")],
        ["--decisions", str(tmp_path / "decisions.jsonl"), "--alerts", str(tmp_path / "decisions.jsonl")],
        ["--decisions", str(tmp_path / "decisions.jsonl"), "--alerts", str(tmp_path / "alerts.jsonl"), "--target", "2"],
    ]
    words = [("missing.jsonl", "cannot read"), ("bad.jsonl:1",), ("--alerts", "not an alert"), ("--target",)]
    for args, expected in zip(cases, words):
        assert_one_line_error(tripguard_cli("tune", *args, "--out", str(tmp_path / "o.toml")), *expected)
    assert not (tmp_path / "o.toml").exists()
