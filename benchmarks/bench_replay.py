"""`tripguard replay` on Porto-like traffic with planned routes, beside orjson decoding the same
files line by line, and `replay --workers 2` beside one process, all in one run.

    .venv/bin/python benchmarks/bench_replay.py [--quick] [--trips N]

The traffic is `tripguard simulate` (Porto streets, planned routes on every trip_started, GPS
noise, all six fraud kinds), enlarged to >= 1 M pings by the trip count. One core for replay and
the orjson baseline (pinned), both cores for --workers 2 (each worker spawns, imports and loads
the compiled kernels from the cache: counted, it is part of what a user waits for). The
--workers run's outputs are checked against the single process's (alert ids as a set, verdicts).
Writes results/replay.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from bench_stream import simulate  # noqa: E402
from common import best_of, pin_one_core, write_result  # noqa: E402

TRIPGUARD = str(Path(sys.executable).parent / "tripguard")


def orjson_lines(*paths: Path) -> int:
    """The baseline: every line of the files through orjson.loads, nothing else."""
    n = 0
    loads = orjson.loads
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                loads(line)
                n += 1
    return n


def outputs(out: Path) -> tuple[set, list]:
    alerts = {json.loads(line)["alert_id"] for line in (out / "alerts.jsonl").read_text().splitlines()}
    verdicts = sorted((out / "verdicts.jsonl").read_text().splitlines())
    return alerts, verdicts


def run_cli(pings: Path, trips: Path, out: Path, workers: int) -> tuple[float, dict]:
    """Wall time of the whole command (process start, kernels from the cache, replay, output)."""
    started = time.perf_counter()
    subprocess.run(
        [
            TRIPGUARD,
            "replay",
            "--pings",
            str(pings),
            "--trips",
            str(trips),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started, json.loads((out / "summary.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trips", type=int, default=None, help="simulated trips (default 6,500: >= 1 M pings)")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    n_trips = args.trips or (600 if args.quick else 6_500)
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as name:
        tmp = Path(name)
        pings, trips = simulate(tmp / "traffic", n_trips, args.seed)
        file_mb = (pings.stat().st_size + trips.stat().st_size) / 1e6
        all_cpus = os.sched_getaffinity(0)

        # both cores: the command line, one process and two (the same outputs)
        wall1, s1 = run_cli(pings, trips, tmp / "w1", 1)
        wall2, s2 = run_cli(pings, trips, tmp / "w2", 2)
        same = outputs(tmp / "w1") == outputs(tmp / "w2")

        # one core: replay in this process (kernels loaded by a warm-up run) beside orjson
        pin_one_core()
        from tripguard.io.replay import replay
        from tripguard.runtime import tune_gc_for_throughput

        tune_gc_for_throughput()
        replay(pings, trips, tmp / "warm", keep=False)
        replay_s = best_of(lambda: replay(pings, trips, tmp / "r", keep=False), 3)
        n_pings = json.loads((tmp / "r" / "summary.json").read_text())["pings"]
        lines = orjson_lines(pings, trips)
        orjson_s = best_of(lambda: orjson_lines(pings, trips), 3)
        os.sched_setaffinity(0, all_cpus)

    payload = {
        "traffic": f"tripguard simulate --trips {n_trips} --seed {args.seed}: {n_pings:,} pings in {lines:,} lines "
        f"({file_mb:.0f} MB), a planned route on every trip_started",
        "pings": n_pings,
        "lines": lines,
        "replay_s": replay_s,
        "replay_pings_per_s": n_pings / replay_s,
        "orjson_lines_s": orjson_s,
        "orjson_pings_per_s": n_pings / orjson_s,
        "replay_over_orjson": replay_s / orjson_s,
        "cli_workers_1_s": wall1,
        "cli_workers_2_s": wall2,
        "workers_2_speedup": wall1 / wall2,
        "workers_1_summary_elapsed_s": s1["elapsed_s"],
        "workers_2_summary_elapsed_s": s2["elapsed_s"],
        "workers_same_outputs": same,
    }
    path = write_result("replay", payload)
    print(
        f"replay, one core: {n_pings:,} pings in {replay_s:.2f} s = {n_pings / replay_s:,.0f} pings/s; orjson line "
        f"by line {orjson_s:.2f} s ({replay_s / orjson_s:.2f}x its time)"
    )
    print(
        f"replay command: --workers 1 {wall1:.2f} s, --workers 2 {wall2:.2f} s ({wall1 / wall2:.2f}x), "
        f"same outputs: {same}"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
