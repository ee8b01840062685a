"""Start-up: Numba compile time of every kernel the engine uses (a small stream with planned
routes, so the lifecycle, kinematics, H3, corridor, path-log and polyline kernels all run), cold
(empty cache) and with the cache warm, each in a fresh process -- what a worker pays before its
first batch.

    .venv/bin/python benchmarks/bench_startup.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

PROBE = r"""
import json, os, time
t0 = time.perf_counter()
from tests.streams import build_batches, make_stream
from tripguard.geo import encode_polyline
from tripguard.engine.core import Engine
from tripguard.config.settings import Settings
t_import = time.perf_counter() - t0

def with_routes(messages):  # every trip_started plans the trip's own track: all kernels run
    track = {}
    for m in messages:
        v = m["value"]
        if m["source"] == "pings" and abs(v["lat"]) > 1:  # leave the (0, 0) fixes out of the plan
            track.setdefault(v["trip_id"], []).append((v["lat"], v["lon"]))
    for m in messages:
        v = m["value"]
        if m["source"] == "trips" and v["type"] == "trip_started":
            v["planned_route"] = encode_polyline(track[v["trip_id"]][::3])
    return messages

engine = Engine.from_settings(Settings(), clock=lambda: 0)
batches = build_batches(with_routes(make_stream(3, n_trips=12)), [])
t1 = time.perf_counter()
for b in batches:
    engine.process(b)
engine.flush()
t_first = time.perf_counter() - t1
t2 = time.perf_counter()
for b in build_batches(with_routes(make_stream(4, n_trips=12)), []):
    engine.process(b)
engine.flush()
t_second = time.perf_counter() - t2
print(json.dumps({"import_s": t_import, "first_batch_s": t_first, "steady_batch_s": t_second}))
"""


def run(cache_dir: str) -> dict:
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as cache:
        cold = run(cache)
        warm = run(cache)
    for name, r in (("cold (empty cache)", cold), ("warm (cache filled)", warm)):
        print(
            f"{name:22} import {r['import_s']:6.2f} s   first batch (compile or load) {r['first_batch_s']:6.2f} s   "
            f"same work again {r['steady_batch_s']:6.3f} s"
        )
    print(f"-> {write_result('startup', {'cold': cold, 'warm': warm})}")


if __name__ == "__main__":
    main()
