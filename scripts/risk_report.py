"""Driver-risk report: a simulated fleet -> replay -> reviewers' decisions -> the ranking of drivers.

    .venv/bin/python scripts/risk_report.py                 # the evaluation part: writes docs/risk.md
    .venv/bin/python scripts/risk_report.py --part tune     # the tuning part: prints, writes nothing

Each seed is a fleet of 400 drivers, 3 % of them repeat offenders, 10,000 trips made from the real
Porto trips of one part of data/porto/trips-500.csv (`tripguard simulate --from-real --split
tune|eval --fleet 400 --repeat-offenders 0.03`), replayed (`tripguard replay`), with reviewers'
decisions simulated from the labels (`tripguard simulate-reviews`). The parameters in
data/cities.toml [default.risk] were chosen on the tune part (seeds 1-3); the figures in
docs/risk.md are the eval part's (seeds 11-13). Every driver's score is taken at the end of the
run; the top k (k = the fleet's repeat offenders) are compared with the offenders, beside the
ranking by raw alert count (tripguard.risk.evaluate).

--work DIR keeps the runs (and reuses them when they are there); --cities FILE scores with other
parameters (an override, as `--cities` elsewhere).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from tripguard.config.files import CityTables
from tripguard.contract import ALERT_KINDS
from tripguard.risk.evaluate import alert_counts, final_stage, kind_precision, read_drivers, scores_at_end, top_k_hits
from tripguard.simulate.fleet import OFFENDER, PROFILES

ROOT = Path(__file__).resolve().parent.parent
TRIPGUARD = str(Path(sys.executable).parent / "tripguard")
REAL = ROOT / "data" / "porto" / "trips-500.csv"
DOC = ROOT / "docs" / "risk.md"
BEGIN, END = "<!-- results:begin (scripts/risk_report.py writes this block) -->", "<!-- results:end -->"
SEEDS = {"tune": (1, 2, 3), "eval": (11, 12, 13)}
FLEET, OFFENDERS, TRIPS = 400, 0.03, 10_000
RANKINGS = ("risk, alerts only", "risk, alerts and decisions", "raw alert count")


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")


def simulate(part: str, seed: int, work: Path) -> Path:
    d = work / f"{part}-{seed}"
    if not (d / "out" / "verdicts.jsonl").exists():
        _run(
            [
                TRIPGUARD,
                "simulate",
                "--from-real",
                str(REAL),
                "--split",
                part,
                "--seed",
                str(seed),
                "--trips",
                str(TRIPS),
                "--fleet",
                str(FLEET),
                "--repeat-offenders",
                str(OFFENDERS),
                "--out",
                str(d),
            ]
        )
        _run(
            [
                TRIPGUARD,
                "replay",
                "--pings",
                str(d / "pings.jsonl"),
                "--trips",
                str(d / "trips.jsonl"),
                "--out",
                str(d / "out"),
            ]
        )
        _run(
            [
                TRIPGUARD,
                "simulate-reviews",
                "--labels",
                str(d / "labels.csv"),
                "--alerts",
                str(d / "out" / "alerts.jsonl"),
                "--seed",
                str(seed),
                "--out",
                str(d / "decisions.jsonl"),
            ]
        )
    return d


def score_run(d: Path, cities: CityTables) -> dict:
    drivers = read_drivers(d / "drivers.csv")
    offenders = {k for k, v in drivers.items() if v["role"] == OFFENDER}
    ids, k = list(drivers), len(offenders)
    alone = final_stage(d / "out" / "verdicts.jsonl", None, cities)
    decided = final_stage(d / "out" / "verdicts.jsonl", d / "decisions.jsonl", cities)
    counts = alert_counts(d / "out" / "alerts.jsonl")
    rankings = {
        RANKINGS[0]: scores_at_end(alone),
        RANKINGS[1]: scores_at_end(decided),
        RANKINGS[2]: {dr: float(n) for dr, n in counts.items()},
    }
    out = {"k": k, "drivers": len(ids), "hits": {}, "by_profile": {}, "profiles": Counter(), "levels": {}}
    for name, scores in rankings.items():
        out["hits"][name] = top_k_hits(scores, offenders, ids, k)
        for profile in dict.fromkeys(PROFILES):
            group = {o for o in offenders if drivers[o]["profile"] == profile}
            out["by_profile"][(name, profile)] = top_k_hits(scores, group, ids, k) if group else 0.0
    for o in offenders:
        out["profiles"][drivers[o]["profile"]] += 1
    # the level each driver reached at any time of the run (from the stage's events), alerts only
    # and with decisions
    for name, stage in ((RANKINGS[0], alone), (RANKINGS[1], decided)):
        end = max(h.newest_ts for h in stage.histories.values())
        levels = {dr: stage.assess(dr, end, explain=False).level for dr in stage.histories}
        honest = [dr for dr in ids if dr not in offenders]
        alerted = [dr for dr in honest if counts.get(dr)]
        single = [dr for dr in honest if counts.get(dr) == 1]
        out["levels"][name] = {
            "honest": len(honest),
            "honest_alerted": len(alerted),
            "honest_single": len(single),
            "honest_high": sum(levels.get(dr) == "high" for dr in honest),
            "honest_medium": sum(levels.get(dr) == "medium" for dr in honest),
            "single_not_low": sum(levels.get(dr, "low") != "low" for dr in single),
            "offenders_high": sum(levels.get(dr) == "high" for dr in offenders),
            "offenders_medium": sum(levels.get(dr) == "medium" for dr in offenders),
            "events": stage.stats["events"],
        }
    out["precision"] = kind_precision(d / "out" / "alerts.jsonl", d / "labels.csv")
    out["decisions"] = Counter(orjson.loads(x)["decision"] for x in (d / "decisions.jsonl").read_bytes().splitlines())
    out["alerts"] = sum(counts.values())
    out["trips"] = sum(1 for _ in (d / "out" / "verdicts.jsonl").open())
    return out


def wilson(hits: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share (each offender found or not: a binomial trial)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def report(part: str, seeds: tuple[int, ...], runs: list[dict]) -> str:
    k = sum(r["k"] for r in runs)
    lines = [
        f"#### Fleet of {FLEET} drivers ({100 * OFFENDERS:.0f} % repeat offenders), {TRIPS:,} trips from the "
        f"real Porto trips of the {part} part — seeds {', '.join(map(str, seeds))}",
        "",
        f"{sum(r['drivers'] for r in runs)} drivers, {k} repeat offenders ("
        + ", ".join(f"{p} {sum(r['profiles'][p] for r in runs)}" for p in dict.fromkeys(PROFILES))
        + f"), {sum(r['trips'] for r in runs):,} trips, {sum(r['alerts'] for r in runs):,} alerts, "
        f"{sum(r['decisions']['upheld'] for r in runs)} upheld and {sum(r['decisions']['overturned'] for r in runs)}"
        " overturned decisions.",
        "",
        "| ranking | repeat offenders in the top k (Wilson interval) | "
        + " | ".join(f"{p} in the top k" for p in dict.fromkeys(PROFILES))
        + " |",
        "|---|---:|" + "---:|" * len(dict.fromkeys(PROFILES)),
    ]
    for name in RANKINGS:
        hits = sum(r["hits"][name] for r in runs)
        cells = []
        for p in dict.fromkeys(PROFILES):
            n = sum(r["profiles"][p] for r in runs)
            cells.append(f"{sum(r['by_profile'][(name, p)] for r in runs):.1f} of {n}")
        low, high = wilson(hits, k)
        lines.append(
            f"| {name} | **{hits:.1f} of {k} ({100 * hits / k:.0f} %)**, 95 % CI {100 * low:.0f}-"
            f"{100 * high:.0f} % | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "Levels at the end of the runs:",
        "",
        "| score | honest drivers high / medium | honest drivers with exactly one alert not low | "
        "repeat offenders high / medium | driver_risk events |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in RANKINGS[:2]:
        lv = [r["levels"][name] for r in runs]
        s = {key: sum(x[key] for x in lv) for key in lv[0]}
        lines.append(
            f"| {name} | {s['honest_high']} / {s['honest_medium']} of {s['honest']} ({s['honest_alerted']} "
            f"with an alert) | {s['single_not_low']} of {s['honest_single']} | {s['offenders_high']} / "
            f"{s['offenders_medium']} of {k} | {s['events']} |"
        )
    lines += [
        "",
        "Precision of the alerts in these fleets (alerts whose kind is the trip's labelled fraud):",
        "",
        "| kind | alerts | precision |",
        "|---|---:|---:|",
    ]
    for kind in ALERT_KINDS:
        tp = sum(r["precision"].get(kind, (0, 0))[0] for r in runs)
        n = sum(r["precision"].get(kind, (0, 0))[1] for r in runs)
        lines.append(f"| {kind} | {n} | {tp / n:.2f} |" if n else f"| {kind} | 0 | — |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=tuple(SEEDS), default="eval")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--cities", type=Path, default=None)
    args = ap.parse_args()
    seeds = SEEDS[args.part]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        with ThreadPoolExecutor(2) as pool:
            dirs = list(pool.map(lambda s: simulate(args.part, s, work), seeds))
        cities = CityTables.load(args.cities)
        text = report(args.part, seeds, [score_run(d, cities) for d in dirs])
    print(text)
    if args.part == "eval" and args.cities is None:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN)
        _, tail = rest.split(END)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
