"""On a small simulated fleet the risk score finds the repeat offenders: with the kinds'
precisions measured on another fleet (another seed), the top k drivers by score (k = the number
of repeat offenders) hold at least 90 % of them. The tie rule of the ranking gives no credit for
a ranking that cannot tell drivers apart."""

from __future__ import annotations

from tripguard.config.files import CityTables
from tripguard.risk.evaluate import (
    final_stage,
    kind_precision,
    precision_override,
    read_drivers,
    scores_at_end,
    top_k_hits,
)
from tripguard.simulate.fleet import OFFENDER


def test_top_k_by_risk_holds_the_repeat_offenders(fleet_run, tune_fleet, tmp_path):
    override = tmp_path / "precisions.toml"
    override.write_text(
        precision_override(kind_precision(tune_fleet / "first" / "alerts.jsonl", tune_fleet / "labels.csv"))
    )
    cities = CityTables.load(override)
    drivers = read_drivers(fleet_run / "drivers.csv")
    offenders = {d for d, row in drivers.items() if row["role"] == OFFENDER}
    assert len(offenders) == 6
    for decisions in (None, fleet_run / "decisions.jsonl"):
        scores = scores_at_end(final_stage(fleet_run / "out" / "verdicts.jsonl", decisions, cities))
        assert top_k_hits(scores, offenders, list(drivers), len(offenders)) >= 0.9 * len(offenders)


def test_ties_at_the_cut_are_shared_out():
    drivers = [f"d{i}" for i in range(10)]
    flat = {d: 0.5 for d in drivers}
    assert top_k_hits(flat, {"d0", "d1"}, drivers, 2) == 2 * 2 / 10  # a random tie-break's expectation
    ranked = {d: 1.0 - i / 10 for i, d in enumerate(drivers)}
    assert top_k_hits(ranked, {"d0", "d5"}, drivers, 2) == 1.0
    assert top_k_hits({**ranked, "d1": 0.9, "d2": 0.9}, {"d2"}, drivers, 2) == 0.5
