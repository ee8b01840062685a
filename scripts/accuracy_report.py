"""Accuracy report: simulate -> replay -> evaluate on one fixed part of the data.

    .venv/bin/python scripts/accuracy_report.py                 # the evaluation part: writes docs/accuracy.md
    .venv/bin/python scripts/accuracy_report.py --part tune     # the tuning part: prints, writes nothing

Parameters are chosen on the tune part only; the figures in docs/accuracy.md come from the eval
part only. The parts never share a real trip or a seed:
- real Porto trips (data/porto/trips-500.csv): `tripguard simulate --from-real --split tune|eval`
  (the parity of the CRC-32 of TRIP_ID), tune seeds 1-3, eval seeds 11-16;
- synthetic trips on the Porto network: tune seed 5, eval seeds 25 and 26;
- when evaluation/heldout exists, the independent generator (written without sight of the
  detectors, eval half of the real trips only): eval seeds 31-33.

Runs the real commands as subprocesses (two at a time), pools each data set's runs (intervals
resample the real trips, not the runs) and, for --part eval, replaces the generated block of
docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson

from tripguard.contract import ALERT_KINDS
from tripguard.geo import decode_polyline
from tripguard.kernels.geo import EARTH_RADIUS_M
from tripguard.offline.evaluate import evaluate, read_alerted, read_labels

ROOT = Path(__file__).resolve().parent.parent
TRIPGUARD = str(Path(sys.executable).parent / "tripguard")
REAL = ROOT / "data" / "porto" / "trips-500.csv"
DOC = ROOT / "docs" / "accuracy.md"
BEGIN, END = "<!-- results:begin (scripts/accuracy_report.py writes this block) -->", "<!-- results:end -->"
SEEDS = {
    "tune": {"real": (1, 2, 3), "synthetic": (5,), "heldout": ()},
    "eval": {"real": (11, 12, 13, 14, 15, 16), "synthetic": (25, 26), "heldout": (31, 32, 33)},
}
SYNTHETIC_TRIPS = 1500


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")


def one(dataset: str, part: str, seed: int, out: Path) -> tuple[dict, dict, dict, dict]:
    d = out / f"{dataset}-{seed}"
    if dataset == "real":
        _run([TRIPGUARD, "simulate", "--from-real", str(REAL), "--split", part, "--seed", str(seed), "--out", str(d)])
    elif dataset == "synthetic":
        _run([TRIPGUARD, "simulate", "--trips", str(SYNTHETIC_TRIPS), "--seed", str(seed), "--out", str(d)])
    else:
        _run([sys.executable, "-m", "evaluation.heldout", "--real", str(REAL), "--seed", str(seed), "--out", str(d)])
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
    labels, base = read_labels(d / "labels.csv")
    alerts = d / "out" / "alerts.jsonl"
    return labels, base, read_alerted(alerts), read_alerted(alerts, secondary=True)


def pooled(runs: list[tuple[int, tuple[dict, dict, dict, dict]]]) -> dict:
    labels, base, alerted, secondary = {}, {}, {}, {}
    for seed, (lab, bas, al, sec) in runs:
        labels.update({f"{seed}/{t}": k for t, k in lab.items()})
        base.update({f"{seed}/{t}": b for t, b in bas.items()})
        alerted.update({f"{seed}/{t}": k for t, k in al.items()})
        secondary.update({f"{seed}/{t}": k for t, k in sec.items()})
    return evaluate(labels, alerted, base, secondary=secondary)


def _f(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def _ci(ci) -> str:
    return "" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def markdown(title: str, r: dict) -> str:
    lines = [
        f"#### {title}",
        "",
        "| kind | labelled | alerted | precision [95 % CI] | recall [95 % CI] | F1 [95 % CI] |",
        "|---|---:|---:|---|---|---|",
    ]
    for kind, k in r["kinds"].items():
        lines.append(
            f"| {kind} | {k['labelled']} | {k['alerted']} | {_f(k['precision'])}{_ci(k['precision_ci'])} | "
            f"{_f(k['recall'])}{_ci(k['recall_ci'])} | {_f(k['f1'])}{_ci(k['f1_ci'])} |"
        )
    rate, ci = r["false_alert_rate_honest"], r["false_alert_rate_honest_ci"]
    lines += [
        "",
        f"Honest trips with any alert: **{r['honest_trips_alerted']} of {r['honest_trips']}** "
        f"({100 * rate:.2f} %, 95 % CI [{100 * ci[0]:.2f} %, {100 * ci[1]:.2f} %]); macro-F1 {_f(r['macro_f1'])}. "
        f"{r['trips']} trips made from {r['units']} independent bases (the unit the intervals resample).",
        "",
        "Confusion (trips by labelled kind; columns: trips that got an alert of that kind):",
        "",
        "| labelled | trips | no alert | " + " | ".join(ALERT_KINDS) + " |",
        "|---|---:|---:|" + "---:|" * len(ALERT_KINDS),
    ]
    for row_kind, row in r["confusion"].items():
        lines.append(
            f"| {row_kind} | {row['trips']} | {row['none']} | " + " | ".join(str(row[k]) for k in ALERT_KINDS) + " |"
        )
    if r.get("secondary"):
        lines += [
            "",
            "Secondary alerts, which name the alert they follow from (not scored above): "
            + "; ".join(
                f"on {row} trips " + ", ".join(f"{k} {n}" for k, n in kinds.items())
                for row, kinds in r["secondary"].items()
            )
            + ".",
        ]
    return "\n".join(lines)


def _off_route_m(lat: np.ndarray, lon: np.ndarray, route: np.ndarray) -> np.ndarray:
    """Distance of each fix from the route polyline (local metric frame at the route's start)."""
    k = np.pi / 180.0 * EARTH_RADIUS_M
    cos0 = np.cos(np.radians(route[0, 0]))
    rx, ry = (route[:, 1] - route[0, 1]) * k * cos0, (route[:, 0] - route[0, 0]) * k
    px, py = (lon - route[0, 1]) * k * cos0, (lat - route[0, 0]) * k
    ax, ay, dx, dy = rx[:-1], ry[:-1], np.diff(rx), np.diff(ry)
    seg2 = np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / seg2, 0.0, 1.0)
    return np.min(np.hypot(ax + t * dx - px[:, None], ay + t * dy - py[:, None]), axis=1)


def adherence(run_dirs: list[Path]) -> dict:
    """How closely the honest real drivers follow the app's plan: the share of their fixes within
    100 m of the planned route, their GPS distance and duration against the plan's."""
    share, dist, dur = [], [], []
    for d in run_dirs:
        labels, _ = read_labels(d / "labels.csv")
        started = {
            e["trip_id"]: e
            for e in map(orjson.loads, (d / "trips.jsonl").read_bytes().splitlines())
            if e["type"] == "trip_started" and e.get("planned_route") and not labels.get(e["trip_id"])
        }
        fixes: dict[str, list] = {t: [] for t in started}
        for line in (d / "pings.jsonl").read_bytes().splitlines():
            value = orjson.loads(line)
            for p in value if isinstance(value, list) else [value]:
                if p["trip_id"] in fixes and (p["lat"], p["lon"]) != (0.0, 0.0) and p.get("accuracy_m", 0) < 150:
                    fixes[p["trip_id"]].append((p["lat"], p["lon"]))
        for line in (d / "out" / "verdicts.jsonl").read_bytes().splitlines():
            v = orjson.loads(line)
            st = started.get(v["trip_id"])
            if st is None or not fixes[v["trip_id"]]:
                continue
            pts = np.array(fixes[v["trip_id"]])
            share.append(
                float(np.mean(_off_route_m(pts[:, 0], pts[:, 1], decode_polyline(st["planned_route"])) <= 100.0))
            )
            dist.append(v["gps_distance_m"] / st["planned_distance_m"])
            dur.append(v["gps_duration_s"] / st["planned_duration_s"])
    pct = lambda x: {q: round(float(np.percentile(x, q)), 2) for q in (10, 50, 90, 98)}  # noqa: E731
    return {
        "trips": len(share),
        "fixes_within_100m_mean": round(float(np.mean(share)), 3),
        "fixes_within_100m": pct(share),
        "gps_over_planned_distance": pct(dist),
        "gps_over_eta": pct(dur),
        "trips_mostly_off_route": round(float(np.mean(np.array(share) < 0.5)), 3),
    }


def adherence_markdown(a: dict) -> str:
    q = lambda d: ", ".join(f"p{k} {v}" for k, v in d.items())  # noqa: E731
    return (
        f"How closely the {a['trips']} honest real trips with a plan follow it (the app's fastest route from "
        f"pickup to dropoff): on average {100 * a['fixes_within_100m_mean']:.0f} % of a trip's fixes lie within "
        f"100 m of the route ({q(a['fixes_within_100m'])}); {100 * a['trips_mostly_off_route']:.0f} % of the trips "
        f"keep less than half their fixes that close. GPS distance / planned distance: {q(a['gps_over_planned_distance'])}; "
        f"GPS duration / ETA: {q(a['gps_over_eta'])}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("tune", "eval"), default="eval")
    ap.add_argument("--out", type=Path, default=Path("/tmp/tripguard-accuracy"))
    ap.add_argument("--only", nargs="+", choices=("real", "synthetic", "heldout"), help="data sets to run")
    ap.add_argument("--json", type=Path, help="also write the pooled reports as JSON here")
    args = ap.parse_args()
    started = time.time()
    have_heldout = (ROOT / "evaluation" / "heldout").is_dir()
    jobs = [
        (ds, seed)
        for ds, seeds in SEEDS[args.part].items()
        for seed in seeds
        if (args.only is None or ds in args.only) and (ds != "heldout" or have_heldout)
    ]
    out = args.out / args.part
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda job: (job, one(job[0], args.part, job[1], out)), jobs))
    titles = {
        "real": "Real Porto trips, fraud and noise injected by tripguard simulate",
        "synthetic": f"Synthetic trips on the Porto network ({SYNTHETIC_TRIPS} a seed, fixes every 4 s)",
        "heldout": "Real Porto trips, fraud and noise injected by the independent generator (evaluation/heldout)",
    }
    blocks, reports = [], {}
    for ds in ("real", "heldout", "synthetic"):
        runs = [(seed, res) for (d, seed), res in results if d == ds]
        if not runs:
            continue
        reports[ds] = pooled(runs)
        seeds = ", ".join(str(s) for s, _ in runs)
        blocks.append(markdown(f"{titles[ds]} — {args.part} part, seeds {seeds}", reports[ds]))
    real_dirs = [out / f"real-{seed}" for (ds, seed), _ in results if ds == "real"]
    if real_dirs:
        reports["adherence"] = adherence(real_dirs)
        blocks.insert(1, adherence_markdown(reports["adherence"]))
    text = "\n\n".join(blocks)
    print(text)
    print(f"\n_{time.time() - started:.0f} s_")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    if args.part == "eval" and args.only is None:
        doc = DOC.read_text()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
