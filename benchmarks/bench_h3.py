"""H3 indexing throughput on one core: h3-py per point, h3ronpy vectorised, our Numba kernels.

    python benchmarks/bench_h3.py            # full run (~2-3 min on 2 cores)
    python benchmarks/bench_h3.py --quick    # smaller data, for a smoke run

Data
- Real Porto taxi trips (common.PORTO_TRIPS: the 200 shipped, or TRIPGUARD_BENCH_PORTO; one fix
  per 15 s), as recorded (15 s) and linearly resampled to 4 s and 1 s ping intervals (1 s also with 5 m Gaussian GPS
  noise, since interpolated pings are smoother than real fixes); each set is concatenated with
  itself, every copy shifted by a few hundredths of a degree, until it holds >= 1,000,000 points.
- 1,000,000 random points uniform on the sphere (no trajectory structure).
Contenders, side by side in one process pinned to one CPU:
  h3-py `h3.latlng_to_cell` (str API) and `h3.api.basic_int.latlng_to_cell` in a Python loop,
  h3ronpy `vector.coordinates_to_cells` (the call only; its Arrow result is not converted),
  our `latlng_to_cell` (point kernel) and `latlng_to_cell_trajectory`.
Steady state is the best of N runs; the first call's time (JIT compile or cache load) is
reported apart, and a cold compile is measured in a subprocess with an empty Numba cache.
Equality: every output of our two kernels is compared with h3-py (the reference), on the
benchmark data and on >= 10,000,000 further points (random global points at all 16
resolutions plus random walks); h3ronpy's agreement with h3-py is reported for information.
Writes benchmarks/results/h3.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# one core for every contender (h3ronpy's thread pool sizes itself from the affinity mask)
_CPU = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {_CPU})
os.environ.setdefault("RAYON_NUM_THREADS", "1")

import h3  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
from h3.api import basic_int as h3_int  # noqa: E402

from tripguard.kernels.h3index import latlng_to_cell, latlng_to_cell_trajectory  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PORTO_TRIPS  # noqa: E402

try:
    import h3ronpy
    from h3ronpy.vector import coordinates_to_cells
except ImportError:  # pragma: no cover - the bench extra is not installed
    h3ronpy = None

RESULTS = Path(__file__).resolve().parent / "results" / "h3.json"


# --- data --------------------------------------------------------------------------------


def porto_trips() -> list[np.ndarray]:
    trips = []
    with PORTO_TRIPS.open(newline="") as fh:
        for row in csv.DictReader(fh):
            fixes = np.array(json.loads(row["POLYLINE"]), dtype=np.float64).reshape(-1, 2)
            if len(fixes) >= 2:
                trips.append(fixes[:, ::-1].copy())  # (lat, lng)
    return trips


def resample(trips: list[np.ndarray], interval_s: float) -> np.ndarray:
    out = []
    for fixes in trips:
        t = np.arange(len(fixes)) * 15.0
        tt = np.arange(0.0, t[-1] + 1e-9, interval_s)
        out.append(np.column_stack([np.interp(tt, t, fixes[:, 0]), np.interp(tt, t, fixes[:, 1])]))
    return np.concatenate(out)


def tile_to(points: np.ndarray, n_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate shifted copies (copy m moved by m * (0.0137, 0.0291) deg) up to n_min points."""
    copies = []
    m = 0
    while sum(len(c) for c in copies) < n_min:
        copies.append(points + np.array([0.0137, 0.0291]) * m)
        m += 1
    allp = np.concatenate(copies)
    return np.ascontiguousarray(allp[:, 0]), np.ascontiguousarray(allp[:, 1])


def sphere(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)


def random_walks(rng: np.random.Generator, n: int, walk_len: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    lats, lngs = [], []
    for _ in range(n // walk_len):
        lat0, lng0 = sphere(rng, 1)
        step = 10.0 ** rng.uniform(-6, -2)
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.2, walk_len))
        dist = rng.exponential(step, walk_len)
        lat = lat0 + np.cumsum(dist * np.cos(heading))
        lat = np.clip(np.where(lat > 90, 180 - lat, np.where(lat < -90, -180 - lat, lat)), -90, 90)
        lng = (lng0 + np.cumsum(dist * np.sin(heading)) + 180.0) % 360.0 - 180.0
        lats.append(lat)
        lngs.append(lng)
    return np.concatenate(lats), np.concatenate(lngs)


# --- contenders ----------------------------------------------------------------------------


def h3py_str_loop(lat, lng, res):
    f = h3.latlng_to_cell
    return [f(a, b, res) for a, b in zip(lat.tolist(), lng.tolist())]


def h3py_int_loop(lat, lng, res):
    # the loop only; turning the list into an array is left out of h3-py's time
    f = h3_int.latlng_to_cell
    return [f(a, b, res) for a, b in zip(lat.tolist(), lng.tolist())]


def h3py_reference(lat, lng, res) -> np.ndarray:
    return np.array(h3py_int_loop(lat, lng, res), dtype=np.uint64)


def h3ronpy_call(lat, lng, res):
    return coordinates_to_cells(lat, lng, res)


def best_of(fn, repeats: int, *args):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def cold_compile_seconds() -> dict:
    """First-call times in a fresh interpreter with an empty Numba cache (a true compile)."""
    code = (
        "import time, numpy as np\n"
        "t0 = time.perf_counter()\n"
        "from tripguard.kernels.h3index import latlng_to_cell, latlng_to_cell_trajectory\n"
        "t1 = time.perf_counter()\n"
        "a = np.array([41.15]); b = np.array([-8.61])\n"
        "latlng_to_cell(a, b, 9); t2 = time.perf_counter()\n"
        "latlng_to_cell_trajectory(a, b, 9); t3 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t1, t3 - t2)\n"
    )
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    imp, point, traj = map(float, out.stdout.split())
    return {"import_s": imp, "point_first_call_s": point, "trajectory_first_call_s": traj}


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small data (smoke run)")
    args = ap.parse_args()
    n_min = 100_000 if args.quick else 1_000_000
    n_equality = 1_000_000 if args.quick else 10_000_000
    repeats = 3 if args.quick else 5
    resolutions = (9, 12)
    rng = np.random.default_rng(2024)

    # first calls in this process (a compile, or a load from Numba's on-disk cache)
    probe = (np.array([41.15]), np.array([-8.61]))
    t0 = time.perf_counter()
    latlng_to_cell(*probe, 9)
    t1 = time.perf_counter()
    latlng_to_cell_trajectory(*probe, 9)
    t2 = time.perf_counter()
    first_call = {"point_s": t1 - t0, "trajectory_s": t2 - t1}
    cold = cold_compile_seconds()

    trips = porto_trips()
    raw = np.concatenate(trips)
    one_hz = resample(trips, 1.0)
    # interpolated pings lie on straight segments; real 1 Hz fixes wander by a few metres
    noise_deg = rng.normal(0.0, 5.0, one_hz.shape) / np.array([111_195.0, 111_195.0 * np.cos(np.radians(41.15))])
    datasets = {
        "porto 1 s pings": tile_to(one_hz, n_min),
        "porto 1 s + 5 m noise": tile_to(one_hz + noise_deg, n_min),
        "porto 4 s pings": tile_to(resample(trips, 4.0), n_min),
        "porto 15 s (as recorded)": tile_to(raw, n_min),
        "random global": sphere(rng, n_min),
    }

    rows = []
    mismatches_total = 0
    checked_total = 0
    for name, (lat, lng) in datasets.items():
        for res in resolutions:
            n = len(lat)
            t_str, _ = best_of(h3py_str_loop, 2, lat, lng, res)
            t_int, ref = best_of(h3py_int_loop, 2, lat, lng, res)
            ref = np.array(ref, dtype=np.uint64)
            t_point, ours_point = best_of(latlng_to_cell, repeats, lat, lng, res)
            stats: dict = {}
            t_traj, ours_traj = best_of(
                lambda a, b, r, stats=stats: latlng_to_cell_trajectory(a, b, r, stats=stats), repeats, lat, lng, res
            )
            mism = int((ours_point != ref).sum()) + int((ours_traj != ref).sum())
            mismatches_total += mism
            checked_total += n
            entry = {
                "dataset": name,
                "res": res,
                "n_points": n,
                "mismatches_vs_h3py": mism,  # point and trajectory outputs together
                "trajectory_paths": {k: v / repeats for k, v in stats.items()},
                "seconds": {
                    "h3py_str_loop": t_str,
                    "h3py_int_loop": t_int,
                    "numba_point": t_point,
                    "numba_trajectory": t_traj,
                },
            }
            if h3ronpy is not None:
                t_ron, ron = best_of(h3ronpy_call, repeats, lat, lng, res)
                entry["seconds"]["h3ronpy"] = t_ron
                entry["h3ronpy_mismatches_vs_h3py"] = int((np.asarray(ron).astype(np.uint64) != ref).sum())
            rows.append(entry)
            print(f"done: {name} res {res} ({n:,} points, {mism} mismatches)", file=sys.stderr)

    # >= 10 M more points for equality: random global points at every resolution + random walks
    n_walk = n_equality // 5
    eq_lat, eq_lng = sphere(rng, n_equality - n_walk)
    w_lat, w_lng = random_walks(rng, n_walk)
    eq_mismatch = 0
    eq_checked = 0
    t_ref = 0.0
    for lat_all, lng_all in ((eq_lat, eq_lng), (w_lat, w_lng)):
        for res, idx in enumerate(np.array_split(np.arange(len(lat_all)), 16)):
            a, b = np.ascontiguousarray(lat_all[idx]), np.ascontiguousarray(lng_all[idx])
            t0 = time.perf_counter()
            ref = h3py_reference(a, b, res)
            t_ref += time.perf_counter() - t0
            eq_mismatch += int((latlng_to_cell(a, b, res) != ref).sum())
            eq_mismatch += int((latlng_to_cell_trajectory(a, b, res) != ref).sum())
            eq_checked += len(a)
    mismatches_total += eq_mismatch
    checked_total += eq_checked

    # --- report ---
    header = f"{'dataset':<26}{'res':>4}  {'method':<24}{'points/s':>14}{'ns/point':>10}{'vs h3-py int':>14}{'vs h3-py str':>14}"
    print()
    print(f"H3 latlng_to_cell, one core (CPU {_CPU}), steady state = best of {repeats} (h3-py loops: best of 2)")
    print(header)
    print("-" * len(header))
    for r in rows:
        n = r["n_points"]
        s = r["seconds"]
        for method in ("h3py_str_loop", "h3py_int_loop", "h3ronpy", "numba_point", "numba_trajectory"):
            if method not in s:
                continue
            print(
                f"{r['dataset']:<26}{r['res']:>4}  {method:<24}{n / s[method]:>14,.0f}"
                f"{s[method] / n * 1e9:>10.1f}{s['h3py_int_loop'] / s[method]:>13.1f}x"
                f"{s['h3py_str_loop'] / s[method]:>13.1f}x"
            )
        if "h3ronpy" in s and r["dataset"].startswith("porto"):
            r["target_met"] = bool(
                s["h3py_int_loop"] / s["numba_trajectory"] >= 10.0 and s["numba_trajectory"] < s["h3ronpy"]
            )
            print(
                f"{'':<30}target (trajectory >= 10x h3-py int loop and faster than h3ronpy): "
                f"{'met' if r['target_met'] else 'NOT met'}"
            )
        paths = r["trajectory_paths"]
        tot = sum(paths.values())
        print(
            f"{'':<30}trajectory paths: same cell {paths['same_cell'] / tot:.1%}, "
            f"digit walk {paths['walk'] / tot:.1%}, full {paths['full'] / tot:.1%}; "
            f"mismatches vs h3-py {r['mismatches_vs_h3py']}"
            + (f"; h3ronpy vs h3-py {r['h3ronpy_mismatches_vs_h3py']}" if "h3ronpy" in s else "")
        )
    print()
    print(
        f"first call in this process: point {first_call['point_s']:.3f} s, trajectory "
        f"{first_call['trajectory_s']:.3f} s (compile, or load from Numba's cache)"
    )
    print(
        f"cold compile (empty cache, subprocess): point {cold['point_first_call_s']:.2f} s, "
        f"trajectory {cold['trajectory_first_call_s']:.2f} s, import {cold['import_s']:.2f} s"
    )
    print(
        f"equality vs h3-py: {eq_checked:,} extra points ({len(eq_lat):,} random global and "
        f"{len(w_lat):,} random-walk points, res 0-15), {eq_mismatch} mismatches; in all "
        f"{checked_total:,} (point, res) pairs checked in this run, each through both kernels: "
        f"{mismatches_total} mismatches (reference: h3-py basic_int, one point at a time, "
        f"{t_ref:.1f} s for the extra points)"
    )

    result = {
        "benchmark": "h3 latlng_to_cell",
        "command": "python benchmarks/bench_h3.py" + (" --quick" if args.quick else ""),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpu": _cpu_model(),
            "pinned_cpu": _CPU,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "h3": h3.versions(),
            "h3ronpy": getattr(h3ronpy, "__version__", None) if h3ronpy else None,
        },
        "steady_state": f"best of {repeats}; h3-py loops best of 2",
        "first_call_in_process_s": first_call,
        "cold_compile": cold,
        "rows": rows,
        "equality": {
            "extra_points": eq_checked,
            "extra_mismatches": eq_mismatch,
            "point_res_pairs_checked": checked_total,
            "kernels_checked": ["latlng_to_cell", "latlng_to_cell_trajectory"],
            "all_mismatches": mismatches_total,
            "reference": "h3-py 4.x basic_int.latlng_to_cell, one point at a time",
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
