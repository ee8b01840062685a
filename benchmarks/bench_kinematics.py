"""Kinematics kernel throughput on one core, beside a pure-Python loop, numpy vectorised code,
MovingPandas' OutlierCleaner and scikit-mobility's speed filter, on the same fixes in one run.

    .venv/bin/python benchmarks/bench_kinematics.py [--quick]

Data: real Porto taxi trajectories resampled to 4 s fixes (phones ping every few seconds), copied
with small offsets to >= 100k fixes over >= 1k trips, one batch sorted by (trip, ts).
Contenders (all single core, best of N, build/compile time reported apart):
- kernel: tripguard.kernels.kinematics.kinematics (the public wrapper, fresh state every run);
- pure Python: tests/kernels/kinematics_ref.py, the same state machine in plain Python (its twin);
- numpy: a vectorised point-to-point check (step speed above the limit, spikes as fast-in and
  fast-out) -- simpler than the kernel, the best numpy does without a loop;
- MovingPandas OutlierCleaner.clean(v_max) and scikit-mobility filtering.filter(max_speed_kmh),
  each in its own venv (benchmarks/baselines/*.txt: their pins conflict with ours), skipped with
  a note where they do not install.
Writes benchmarks/results/kinematics.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the pure-Python twin: tests/kernels/kinematics_ref.py
from common import baseline_venv, best_of, fleet, pin_one_core, write_result  # noqa: E402

pin_one_core()

import numpy as np  # noqa: E402

from tests.kernels.kinematics_ref import TripRef  # noqa: E402
from tripguard.config.files import CityTables  # noqa: E402
from tripguard.detectors.kinematics import KinematicsParams  # noqa: E402
from tripguard.kernels import kinematics as K  # noqa: E402
from tripguard.kernels.geo import haversine_m_np  # noqa: E402

# the shipped defaults (data/cities.toml [default.kinematics]): what the engine runs with
PARAMS = vars(CityTables.load().params(KinematicsParams, "default", "kinematics"))
PARAM_ROW = np.array([[PARAMS[k] for k in K.PARAM_NAMES]])


def run_kernel(slot, ts, lat, lon, acc, n_trips):
    dev = np.full(slot.size, np.nan)
    mock = np.full(slot.size, -1, np.int8)
    city = np.zeros(n_trips, np.int64)

    def once():
        return K.kinematics(slot, ts, lat, lon, acc, dev, mock, city, K.new_state(n_trips), K.HeldPool(), PARAM_ROW)

    return once


def run_python(slot, ts, lat, lon, acc):
    bounds = np.flatnonzero(np.diff(slot)) + 1
    groups = np.split(np.arange(slot.size), bounds)
    rows = list(zip(ts.tolist(), lat.tolist(), lon.tolist(), acc.tolist()))
    nan = float("nan")

    def once():
        for g in groups:
            trip = TripRef(dict(PARAMS))
            for i in g.tolist():
                t, la, lo, a = rows[i]
                trip.fix(t, la, lo, a, nan, -1)
            trip.finish()

    return once


def run_numpy(slot, ts, lat, lon, acc):
    vmax = PARAMS["max_speed_mps"]

    def once():
        same = slot[1:] == slot[:-1]
        d = haversine_m_np(lat[:-1], lon[:-1], lat[1:], lon[1:])
        dt = np.diff(ts) / 1000.0
        with np.errstate(divide="ignore", invalid="ignore"):
            fast = same & (d - acc[:-1] - acc[1:] > vmax * dt)
        spike = np.zeros(slot.size, bool)
        spike[1:-1] = fast[:-1] & fast[1:]  # fast in and fast out
        speed = np.where(same, d / np.maximum(dt, 1e-3), 0.0)
        return spike, speed

    return once


def baseline(name, data_path, repeat):
    python = baseline_venv(name)
    if python is None:
        return {"library": name, "skipped": "does not install here"}
    script = Path(__file__).resolve().parent / "baselines" / "run_baseline.py"
    out = subprocess.run(
        [
            "taskset",
            "-c",
            str(min(__import__("os").sched_getaffinity(0))),
            str(python),
            str(script),
            name,
            str(data_path),
            str(PARAMS["max_speed_mps"] * 3.6),
            str(repeat),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if out.returncode != 0:
        return {"library": name, "skipped": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    min_pings, min_trips = (20_000, 200) if args.quick else (100_000, 1_000)
    slot, ts, lat, lon, acc, desc = fleet(min_pings, min_trips)
    n, n_trips = slot.size, int(slot.max()) + 1
    print(f"data: {desc}")

    t = time.perf_counter()
    kernel = run_kernel(slot, ts, lat, lon, acc, n_trips)
    kernel()
    first_call_s = time.perf_counter() - t
    rows = []
    k_s = best_of(kernel, 20)
    rows.append({"contender": "tripguard kernel (Numba)", "seconds": k_s})
    rows.append(
        {"contender": "numpy vectorised point-to-point", "seconds": best_of(run_numpy(slot, ts, lat, lon, acc), 10)}
    )
    rows.append(
        {
            "contender": "pure-Python loop (the kernel's twin)",
            "seconds": best_of(run_python(slot, ts, lat, lon, acc), 1),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "fixes.npz"
        np.savez(data, slot=slot, ts=ts, lat=lat, lon=lon)
        for name in ("movingpandas", "skmob"):
            r = baseline(name, data, 1 if not args.quick else 1)
            if "skipped" in r:
                rows.append({"contender": r["library"], "seconds": None, "note": r["skipped"]})
            else:
                rows.append(
                    {
                        "contender": r["library"],
                        "seconds": r["filter_s"],
                        "note": f"building its data structure took {r['build_s']:.2f} s more",
                    }
                )
    print(f"\n{'contender':70} {'fixes/s':>14} {'ns/fix':>9} {'kernel is':>12}")
    for r in rows:
        s = r["seconds"]
        if s is None:
            print(f"{r['contender']:70} {'skipped':>14}   {r.get('note', '')}")
            continue
        r["fixes_per_s"] = n / s
        r["ns_per_fix"] = s / n * 1e9
        r["kernel_speedup"] = s / k_s
        print(f"{r['contender']:70} {n / s:14,.0f} {s / n * 1e9:9.1f} {s / k_s:11.1f}x  {r.get('note', '')}")
    print(f"\nkernel first call (compile or cache load): {first_call_s:.2f} s; steady state best of 20")
    cold = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True)
    cold_s = float(cold.stdout.strip().splitlines()[-1]) if cold.returncode == 0 else None
    print(f"kernel cold compile (empty cache, subprocess): {cold_s:.2f} s" if cold_s else "cold compile: failed")
    path = write_result(
        "kinematics",
        {
            "data": desc,
            "fixes": n,
            "trips": n_trips,
            "rows": rows,
            "first_call_s": first_call_s,
            "cold_compile_s": cold_s,
        },
    )
    print(f"-> {path}")


COLD = """
import os, tempfile, time
os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()
import numpy as np
from tripguard.kernels import kinematics as K
t = time.perf_counter()
K.kinematics(np.zeros(2, np.int64), np.arange(2, dtype=np.int64), np.ones(2), np.ones(2), np.ones(2), np.ones(2),
             np.zeros(2, np.int8), np.zeros(1, np.int64), K.new_state(1), K.HeldPool(), np.ones((1, K.N_PARAMS)))
print(time.perf_counter() - t)
"""

if __name__ == "__main__":
    main()
