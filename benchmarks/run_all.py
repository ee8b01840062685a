"""Run every benchmark and write benchmarks/results/: README.md (the table), summary.json, plots.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only kinematics,engine,...]

Each benchmark is a script here that writes results/<name>.json; this runs them one after the
other (each pins itself to one core), then reads the JSON back and writes the table with every
figure beside its baseline and target. Benchmarks measure; they never fail on speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCRIPTS = {
    "kinematics": ["bench_kinematics.py"],
    "h3": ["bench_h3.py"],
    "engine": ["bench_engine.py", "--routes"],
    "stream": ["bench_stream.py"],
    "startup": ["bench_startup.py"],
    "state": ["bench_state.py"],
    "replay": ["bench_replay.py"],
}
QUICK = {
    "kinematics": ["--quick"],
    "h3": ["--quick"],
    "engine": ["--quick"],
    "stream": ["--quick"],
    "startup": [],
    "state": ["--quick"],
    "replay": ["--quick"],
}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:.2f}{unit}"


def table() -> str:
    lines = ["| benchmark | measured | beside | target | met |", "|---|---|---|---|---|"]
    k = load("kinematics")
    if k:
        rows = {r["contender"]: r for r in k["rows"]}
        kern = rows["tripguard kernel (Numba)"]
        kern_met = "yes" if kern["fixes_per_s"] >= 20e6 else f"no: {kern['fixes_per_s'] / 20e6:.0%} of it"
        for r in k["rows"][1:]:
            beside = (
                f"{r['contender']}: {fmt(r.get('fixes_per_s'))} fixes/s ({fmt(r.get('kernel_speedup'))}x slower)"
                if r.get("seconds")
                else f"{r['contender']}: {r.get('note', 'skipped')}"
            )
            lines.append(
                f"| kinematics kernel, {k['fixes']:,} fixes / {k['trips']:,} trips, one core | "
                f"{fmt(kern['fixes_per_s'])} fixes/s | {beside} | ≥ 20 M/s | "
                f"{kern_met} |"
            )
    h = load("h3")
    if h:
        for row in h.get("rows", []):
            sec, n = row["seconds"], row["n_points"]
            ns = {k: v / n * 1e9 for k, v in sec.items()}
            speedup = sec["h3py_int_loop"] / sec["numba_trajectory"]
            trajectory = "random" not in row["dataset"]  # the target is for consecutive fixes of trips
            met = (
                ("yes" if speedup >= 10 and sec["numba_trajectory"] < sec.get("h3ronpy", 1e9) else "no")
                if trajectory
                else "n/a: no trajectory"
            )
            lines.append(
                f"| H3 indexing, {row['dataset']}, res {row['res']} ({n:,} points, "
                f"{row['mismatches_vs_h3py']} mismatches) | {fmt(ns['numba_trajectory'])} ns/point "
                f"(trajectory kernel) | h3-py per point {fmt(ns['h3py_int_loop'])} ns, h3ronpy "
                f"{fmt(ns.get('h3ronpy'))} ns | ≥ 10x h3-py, faster than h3ronpy | {met} ({speedup:.1f}x) |"
            )
    e = load("engine")
    if e:
        for r in e["rows"]:
            target = "≥ 1 M/s at 10k trips" if r["active_trips"] == 10_000 else ""
            met = ("yes" if r["pings_per_s"] >= 1e6 else f"no: {r['pings_per_s'] / 1e6:.0%} of it") if target else ""
            lines.append(
                f"| engine, {r['active_trips']:,} active trips{', planned routes' if r['routes'] else ''} | "
                f"{fmt(r['pings_per_s'])} pings/s | | {target} | {met} |"
            )
        for r in e["rows"]:
            if r["active_trips"] == 10_000 and not r["routes"]:
                b = r["bytes_per_trip_without_path"]
                lines.append(
                    f"| memory per active trip (10k trips, path buffer aside) | {fmt(b)} B | "
                    f"{fmt(r['bytes_per_trip_all'])} B with the path | ≤ 2 KB | {'yes' if b <= 2048 else f'no: {b / 2048:.0%} of it'} |"
                )
            if r["active_trips"] == 10_000 and r["routes"]:
                b = r["bytes_per_trip_without_path_and_corridor"]
                lines.append(
                    f"| memory per active trip with a planned route (10k trips, path and corridor aside) | "
                    f"{fmt(b)} B | {fmt(r['bytes_per_trip_without_path'])} B with the corridor, "
                    f"{fmt(r['bytes_per_trip_all'])} B with both | ≤ 2 KB | "
                    f"{'yes' if b <= 2048 else f'no: {b / 2048:.0%} of it'} |"
                )
    s = load("stream")
    if s:
        for row in s.get("table", []):
            lines.append(
                f"| {row['name']} | {row['measured']} | {row.get('beside', '')} | {row.get('target', '')} | "
                f"{row.get('met', '')} |"
            )
    sc = load("state")
    if sc:
        state = sc["state"]
        n = state["live_trips"]
        lines.append(
            f"| state changelog: bytes per live trip ({n:,} live trips) | {fmt(state['full']['bytes_per_live_trip'])} B "
            f"| a checkpoint after 5 s of traffic: {fmt(state['after_5s_of_traffic']['bytes_per_touched_trip'])} B "
            f"per trip touched | | |"
        )
        every, rest = state["every_live_trip_changed"], state["restore"]
        lines.append(
            f"| checkpoint with every live trip changed, per 10k live trips | "
            f"{every['seconds_per_10k_live_trips']:.2f} s | encode {every['encode_s']} s + write "
            f"{every['write_s']} s for {every['live_trips']:,} trips | | |"
        )
        lines.append(
            f"| restore from the changelog, per 10k live trips | {rest['seconds_per_10k_live_trips']:.2f} s | "
            f"read {rest['read_s']} s + fold {rest['fold_s']} s + load {rest['load_s']} s, "
            f"{rest['changelog_records']:,} records | | |"
        )
        tp = sc.get("throughput")
        if tp:
            r = tp["ratio_this_to_baseline"]
            lines.append(
                f"| worker throughput beside {tp['baseline_ref']} ({tp['baseline_commit']}), catch-up of "
                f"{tp['pings']:,} single pings, median of {tp['rounds']} back-to-back rounds | "
                f"{fmt(tp['median_pings_per_s']['this'])} pings/s | {tp['baseline_ref']} "
                f"{fmt(tp['median_pings_per_s']['baseline'])} pings/s; per-round ratios {tp['ratio_per_round']} "
                f"| within 10 % | {'yes' if r >= 0.9 else 'no'} ({r:.2f}) |"
            )
    rp = load("replay")
    if rp:
        ratio = rp["replay_over_orjson"]
        lines.append(
            f"| replay, one core, {rp['pings']:,} pings with planned routes | "
            f"{fmt(rp['replay_pings_per_s'])} pings/s ({ratio:.2f}x the time of orjson) | orjson line by line "
            f"{fmt(rp['orjson_pings_per_s'])} pings/s, same run | ≥ 500 k/s and ≤ 1.5x orjson | "
            f"{'yes' if rp['replay_pings_per_s'] >= 5e5 and ratio <= 1.5 else 'no'} |"
        )
        sp = rp["workers_2_speedup"]
        lines.append(
            f"| replay --workers 2 beside --workers 1 (the command's wall time) | {rp['cli_workers_2_s']:.2f} s "
            f"({sp:.2f}x) | --workers 1 {rp['cli_workers_1_s']:.2f} s; same outputs: "
            f"{rp['workers_same_outputs']} | ≥ 1.7x | {'yes' if sp >= 1.7 else 'no'} |"
        )
    st = load("startup")
    if st:
        lines.append(
            f"| start-up: Numba compile, cold cache | {st['cold']['first_batch_s']:.1f} s | warm cache "
            f"{st['warm']['first_batch_s']:.2f} s | | |"
        )
    return "\n".join(lines)


def plots() -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    k = load("kinematics")
    if k:
        rows = [r for r in k["rows"] if r.get("seconds")]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.barh([r["contender"][:45] for r in rows], [r["fixes_per_s"] for r in rows])
        ax.set_xscale("log")
        ax.set_xlabel("fixes per second, one core (log)")
        ax.set_title("Kinematics: same fixes, one run")
        fig.tight_layout()
        fig.savefig(RESULTS / "kinematics.png", dpi=110)
        made.append("kinematics.png")
    e = load("engine")
    if e:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for routes in (False, True):
            pts = [(r["active_trips"], r["pings_per_s"]) for r in e["rows"] if r["routes"] == routes]
            if pts:
                ax.plot(*zip(*pts), marker="o", label="planned routes" if routes else "no planned routes")
        ax.set_xscale("log")
        ax.set_xlabel("active trips")
        ax.set_ylabel("pings per second, one core")
        ax.axhline(1e6, color="grey", linestyle=":", label="target at 10k trips")
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / "engine.png", dpi=110)
        made.append("engine.png")
    return made


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    names = [n for n in SCRIPTS if not args.only or n in args.only.split(",")]
    for name in names:
        cmd = [sys.executable, str(HERE / SCRIPTS[name][0]), *SCRIPTS[name][1:], *(QUICK[name] if args.quick else [])]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.time()
        done = subprocess.run(cmd)
        print(f"== {name}: exit {done.returncode} after {time.time() - t:.0f} s", flush=True)
    made = plots()
    machine = next((r["machine"] for r in map(load, SCRIPTS) if r), {})
    text = (
        f"# Benchmark results\n\nMachine: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs, Python "
        f"{machine.get('python', '?')} — a shared machine: ratios measured side by side in one run are the "
        f"figures to trust.\nWritten by `make bench` (`benchmarks/run_all.py`); each row's JSON is in this "
        f"folder.\n\n{table()}\n\n"
        + "".join(f"![{m}]({m})\n" for m in made)
        + (
            "\nWhere the time goes, and why the missed targets are missed: [profile.md](profile.md).\n"
            if (RESULTS / "profile.md").exists()
            else ""
        )
    )
    (RESULTS / "README.md").write_text(text)
    summary = {n: load(n) for n in SCRIPTS}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
