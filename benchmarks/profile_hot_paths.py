"""Where the time goes: py-spy samples of the worker and of the engine, summed into categories.

    python benchmarks/profile_hot_paths.py worker [--trips 1500] [--shape single|batched]
    python benchmarks/profile_hot_paths.py engine [--routes]

worker: the stream benchmark's catch-up run (traffic on the embedded broker first, then one
`tripguard run` process) with py-spy attached to the worker while it works through the backlog.
engine: the engine benchmark's 10k-active-trip workload, py-spy attached after the warm-up.
Prints each category's share of the samples (a sample counts in the first category whose frame is
on its stack) and leaves the raw stacks in $TMPDIR/tripguard-profile-<what>.txt.
Needs py-spy (`pip install py-spy`); benchmarks/results/profile.md quotes its output.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

WORKER_CATEGORIES = [
    ("aiokafka: fetch and record unpacking", "AIOKafkaConsumer.getmany"),
    ("JSON parsing (orjson)", "loads (tripguard/io/codec.py"),
    ("ping validation", "ping_from_obj"),
    ("trip-event validation (pydantic)", "decode_trip_event"),
    ("engine (Engine.process)", "Engine.process"),
    ("columnar batch building", "BatchBuilder"),
    ("publishing alerts, verdicts, DLQ", "Worker._publish"),
    ("checkpoints", "Worker._checkpoint"),
    ("event loop idle", "EpollSelector.select"),
]
ENGINE_CATEGORIES = [
    ("slot lookup: one dict lookup per row", "Engine._slots"),
    ("corridor build at trip start (route cells, H3 ring, unique)", "build_corridor"),
    ("other route set-up at trip start (polyline decode, projection)", "Engine._attach_route"),
    ("fare assessment at trip end", "FareChecker.assess"),
    ("kinematics kernel", "kinematics (kernels/kinematics.py"),
    ("route step: H3 cells of the fixes, excursion kernel", "Engine._route_step"),
    ("trip close and verdicts (the rest)", "Engine._close"),
    ("lifecycle gate kernel", "gate (kernels/lifecycle.py"),
]


def py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return exe


def record(pid: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [py_spy(), "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "500"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise(raw: Path, categories: list[tuple[str, str]], within: str, rest: str) -> None:
    counts: collections.Counter = collections.Counter()
    total = 0
    for line in raw.open():
        stack, _, n = line.rstrip().rpartition(" ")
        if within not in stack:
            continue
        total += int(n)
        counts[next((name for name, key in categories if key in stack), rest)] += int(n)
    print(f"{total} samples with {within} on the stack")
    print("| where | share |\n|---|---:|")
    for name in [c[0] for c in categories] + [rest]:
        print(f"| {name} | {counts[name] / max(total, 1):.0%} |")


def profile_worker(trips: int, shape: str) -> None:
    from bench_stream import assigned_worker, ping_count, reshape, simulate, wait_for_pings

    from tests.stream.helpers import make_topics, produce, unique_settings
    from tripguard.stream.broker import EmbeddedBroker

    out = Path(tempfile.gettempdir()) / f"tripguard-profile-worker-{shape}.txt"
    with tempfile.TemporaryDirectory(prefix="profile-") as name:
        tmp = Path(name)
        pings, trip_file = simulate(tmp / "traffic", trips, 5)
        pings = reshape(pings, tmp / f"{shape}.jsonl", 1 if shape == "single" else 10)
        n = sum(map(ping_count, pings.open("rb")))
        with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
            settings = unique_settings("profile")
            make_topics(broker.bootstrap, settings, 4)
            produce(broker.bootstrap, settings, pings, trip_file)
            with assigned_worker(broker, settings, tmp, "worker") as (worker, _):
                spy = record(worker.proc.pid, out)
                started = time.monotonic()
                wait_for_pings(worker, n, 600)
                print(
                    f"worker: {n:,} {shape}-ping messages' pings at {n / (time.monotonic() - started):,.0f} pings/s "
                    "(under py-spy)"
                )
                spy.send_signal(signal.SIGINT)
                spy.wait()
    summarise(out, WORKER_CATEGORIES, "Worker.run", "the worker's own per-record code (ingest, aligner, metrics)")


ENGINE_CHILD = """
import sys, time
sys.path.insert(0, {here!r})
import bench_engine as B
lanes, routes = 10_000, {routes}
batches = B.batches(lanes, 340 + 200, routes)
n_warm = (340 * lanes) // B.BATCH_ROWS
engine = B.Engine.from_settings(B.Settings(), clock=lambda: 0)
for b in batches[:n_warm + 1]:
    engine.process(b)
print("READY", flush=True)
time.sleep(1.0)
t, n = time.perf_counter(), 0
for b in batches[n_warm + 1:]:
    engine.process(b)
    n += b.n_pings
print(f"engine: {{n / (time.perf_counter() - t):,.0f}} pings/s at 10k active trips (under py-spy)", flush=True)
"""


def profile_engine(routes: bool) -> None:
    out = Path(tempfile.gettempdir()) / f"tripguard-profile-engine{'-routes' if routes else ''}.txt"
    child = subprocess.Popen(
        [sys.executable, "-c", ENGINE_CHILD.format(here=str(HERE), routes=routes)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout.readline().strip() == "READY"
    spy = record(child.pid, out)
    print(child.stdout.read().strip())
    child.wait()
    spy.wait()
    summarise(out, ENGINE_CATEGORIES, "Engine.process", "other engine code (numpy glue, path log, events)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["worker", "engine"])
    ap.add_argument("--trips", type=int, default=1500)
    ap.add_argument("--shape", choices=["single", "batched"], default="single")
    ap.add_argument("--routes", action="store_true")
    args = ap.parse_args()
    if args.what == "worker":
        profile_worker(args.trips, args.shape)
    else:
        profile_engine(args.routes)


if __name__ == "__main__":
    main()
