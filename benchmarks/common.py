"""Shared benchmark helpers: data, timing, results, baseline venvs."""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# Real Porto trips (ECML/PKDD 2015 layout): the 200 the repository ships, or a larger file named by
# TRIPGUARD_BENCH_PORTO (the published figures used trips-dev.csv, 500 trips)
PORTO_TRIPS = Path(os.environ.get("TRIPGUARD_BENCH_PORTO", ROOT / "tests" / "data" / "porto-trips-200.csv"))
VENVS = ROOT / "benchmarks" / ".venvs"


def pin_one_core() -> int:
    """Every contender runs on one core (the targets are per core)."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def porto_tracks() -> tuple[list[np.ndarray], str]:
    """Real Porto taxi trajectories as (n, 2) lat/lon arrays (15 s apart) and where they came from."""
    path = PORTO_TRIPS
    csv.field_size_limit(1 << 30)
    tracks = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            pts = json.loads(row["POLYLINE"])
            if len(pts) >= 5:
                arr = np.asarray(pts, dtype=np.float64)[:, ::-1]
                tracks.append(np.ascontiguousarray(arr))
    return tracks, path.name


def fleet(min_pings: int, min_trips: int, interval_s: float = 4.0, seed: int = 0):
    """Real Porto tracks resampled to `interval_s`, copied with small offsets until there are at
    least min_trips trips and min_pings fixes. Returns (slot, ts, lat, lon, accuracy) sorted by
    (slot, ts), plus a description."""
    tracks, source = porto_tracks()
    rng = np.random.default_rng(seed)
    slots, tss, lats, lons = [], [], [], []
    n = trips = 0
    copy = 0
    while n < min_pings or trips < min_trips:
        for tr in tracks:
            t_src = np.arange(len(tr)) * 15.0
            t_new = np.arange(0.0, t_src[-1] + 1e-9, interval_s)
            la = np.interp(t_new, t_src, tr[:, 0]) + 0.01 * (copy % 7) + rng.normal(0, 4e-5, t_new.size)
            lo = np.interp(t_new, t_src, tr[:, 1]) + 0.01 * (copy // 7) + rng.normal(0, 4e-5, t_new.size)
            t0 = 1_700_000_000_000 + int(rng.integers(0, 3_600_000))
            slots.append(np.full(t_new.size, trips, np.int64))
            tss.append(t0 + (t_new * 1000).astype(np.int64) + rng.integers(0, 300, t_new.size))
            lats.append(la)
            lons.append(lo)
            n += t_new.size
            trips += 1
        copy += 1
    slot = np.concatenate(slots)
    acc = rng.uniform(3.0, 15.0, slot.size)
    desc = (
        f"{trips} trips, {n} fixes: real Porto taxi tracks ({source}) resampled to {interval_s:g} s, "
        f"copied with 0.01 deg offsets and 4 m noise"
    )
    return slot, np.concatenate(tss), np.concatenate(lats), np.concatenate(lons), acc, desc


def best_of(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def machine() -> dict:
    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def baseline_venv(name: str) -> Path | None:
    """A venv for a baseline library whose pins conflict with tripguard's (created on first use
    from benchmarks/baselines/<name>.txt). None if it cannot be installed here."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".ok"
    if stamp.exists():
        return python
    req = ROOT / "benchmarks" / "baselines" / f"{name}.txt"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(req)], check=True, capture_output=True, timeout=1800
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"baseline {name}: not installed here ({exc.__class__.__name__}); skipped", file=sys.stderr)
        return None
    stamp.write_text("ok\n")
    return python
