"""Accuracy report: simulate -> replay -> evaluate, on real Porto trips and on synthetic ones.

    .venv/bin/python scripts/accuracy_report.py [--real /work/shared/data/porto/trips-dev.csv]
                                                [--seeds 1 2 3] [--synthetic-trips 2000] [--out DIR]

Runs the real `tripguard` commands (as subprocesses), pools the seeds, and prints the markdown
tables that docs/accuracy.md quotes. Takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from tripguard.evaluate import evaluate, read_alerted, read_labels

ROOT = Path(__file__).resolve().parent.parent
TRIPGUARD = str(Path(sys.executable).parent / "tripguard")


def run(*args: str) -> None:
    subprocess.run([TRIPGUARD, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one(sim_args: list[str], out: Path) -> tuple[dict, dict]:
    run("simulate", *sim_args, "--out", str(out))
    run("replay", "--pings", str(out / "pings.jsonl"), "--trips", str(out / "trips.jsonl"), "--out", str(out / "out"))
    return read_labels(out / "labels.csv"), read_alerted(out / "out" / "alerts.jsonl")


def table(report: dict) -> str:
    def f(x):
        return "–" if x is None else f"{x:.3f}"

    lines = ["| kind | labelled | alerted | precision | recall | F1 | false-alert rate on honest trips |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, r in report["kinds"].items():
        lines.append(f"| {kind} | {r['labelled']} | {r['alerted']} | {f(r['precision'])} | {f(r['recall'])} | "
                     f"{f(r['f1'])} | {f(r['false_alert_rate_honest'])} |")
    lines.append(f"| **any kind** | | | | | | **{report['false_alert_rate_honest']:.3f}** "
                 f"({report['honest_trips_alerted']} of {report['honest_trips']}) |")
    return "\n".join(lines)


def pooled(runs: list[tuple[str, dict, dict]]) -> dict:
    labels, alerted = {}, {}
    for tag, lab, al in runs:
        labels.update({f"{tag}/{t}": k for t, k in lab.items()})
        alerted.update({f"{tag}/{t}": k for t, k in al.items()})
    return evaluate(labels, alerted)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", default="/work/shared/data/porto/trips-dev.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--synthetic-trips", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/tripguard-accuracy"))
    args = ap.parse_args()
    started = time.time()
    real_runs = []
    for seed in args.seeds:
        lab, al = one(["--from-real", args.real, "--seed", str(seed)], args.out / f"real-{seed}")
        real_runs.append((f"real-{seed}", lab, al))
        print(f"### Real Porto trips, seed {seed}\n\n{table(evaluate(lab, al))}\n")
    print(f"### Real Porto trips, seeds {' '.join(map(str, args.seeds))} pooled\n\n{table(pooled(real_runs))}\n")
    lab, al = one(["--trips", str(args.synthetic_trips), "--seed", "5"], args.out / "synthetic")
    print(f"### Synthetic Porto trips ({args.synthetic_trips}, 4 s fixes, seed 5)\n\n{table(evaluate(lab, al))}\n")
    print(f"_{time.time() - started:.0f} s_")


if __name__ == "__main__":
    main()
