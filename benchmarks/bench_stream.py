"""Streaming throughput and latency: one `tripguard run` worker against the embedded broker.

    python benchmarks/bench_stream.py            # 1000 simulated trips (~5 min on 2 cores)
    python benchmarks/bench_stream.py --quick    # 200 trips, for a smoke run

Everything runs on this one machine: broker, producer and worker share its cores. The same
simulated Porto traffic is sent in two shapes: every ping its own message (single), and each
trip's pings in uploads of up to 10 (batched). For each shape, in one run:
- raw ceiling: an aiokafka consumer reading the pings topic from the start and decoding every
  value with orjson -- what consuming costs before any work;
- worker: all traffic on the topics first, then one worker process (4 partitions); time from its
  group assignment until its tripguard_pings_total reaches the ping count (decode, event-time
  alignment, engine, outputs produced, checkpoints);
- replay: `tripguard replay` over the same files, in-process, for reference.
Latency: for each shape, a fresh worker while traffic is produced at 25 %, 50 % and 75 % of that
shape's measured maximum (the catch-up rate); the producer shares the machine, so the rate it
really offered is reported beside the asked one; ping->alert latency (alert detected_at minus the Kafka
timestamp of the record that revealed it) from the worker's histogram, quantiles interpolated
within its buckets. Every run's alert set is compared with replay's (equal, or the run fails).
Writes benchmarks/results/stream.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from tests.stream.helpers import WorkerProcess, alert_ids, make_topics, produce, unique_settings  # noqa: E402
from tripguard.io.replay import replay  # noqa: E402
from tripguard.runtime import tune_gc_for_throughput  # noqa: E402
from tripguard.stream.broker import EmbeddedBroker  # noqa: E402

PARTITIONS = 4


def simulate(directory: Path, trips: int, seed: int) -> tuple[Path, Path]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tripguard",
            "simulate",
            "--out",
            str(directory),
            "--trips",
            str(trips),
            "--seed",
            str(seed),
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return directory / "pings.jsonl", directory / "trips.jsonl"


def quantile(metrics: dict[str, float], name: str, q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket that holds the q-th observation."""
    buckets = sorted(
        (float(m.group(1)) if m.group(1) != "+Inf" else float("inf"), v)
        for k, v in metrics.items()
        if (m := re.match(rf'{name}_bucket{{le="([^"]+)"}}', k))
    )
    total = metrics.get(f"{name}_count", 0)
    if not total:
        return None
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= q * total:
            if bound == float("inf") or count == below:
                return lower
            return lower + (bound - lower) * (q * total - below) / (count - below)
        lower, below = bound, count
    return None


def wait_for_pings(worker: WorkerProcess, n_pings: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.metrics().get("tripguard_pings_total", 0) >= n_pings:
            return
        time.sleep(0.05)
    raise SystemExit(f"worker did not process {n_pings} pings within {timeout_s} s:\n{worker.log()[-3000:]}")


def reshape(pings: Path, out: Path, batch: int) -> Path:
    """The same pings, in file order, as single-ping messages (batch=1) or as each trip's uploads of
    up to `batch` consecutive pings, sent when full or at the trip's last ping."""
    singles = []
    for line in pings.open("rb"):
        v = orjson.loads(line)
        singles.extend(v if isinstance(v, list) else [v])
    last = {p["trip_id"]: i for i, p in enumerate(singles)}
    pending: dict[str, list] = {}
    with open(out, "wb") as fh:
        for i, p in enumerate(singles):
            if batch == 1:
                fh.write(orjson.dumps(p) + b"\n")
                continue
            buf = pending.setdefault(p["trip_id"], [])
            buf.append(p)
            if len(buf) == batch or last[p["trip_id"]] == i:
                fh.write(orjson.dumps(buf) + b"\n")
                del pending[p["trip_id"]]
    return out


def raw_ceiling(bootstrap: str, topic: str, n_pings: int) -> float:
    """Seconds for one aiokafka consumer to read the topic from the start and orjson-decode it all."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def go() -> float:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 << 20,
        )
        await consumer.start()
        try:
            await consumer.topics()
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            consumer.assign(parts)
            started = time.perf_counter()
            seen = 0
            while seen < n_pings:
                got = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                for records in got.values():
                    for r in records:
                        v = orjson.loads(r.value)
                        seen += len(v) if type(v) is list else 1
            return time.perf_counter() - started
        finally:
            await consumer.stop()

    return asyncio.run(go())


def ping_count(line: bytes) -> int:
    """Pings in one message: an object is one, an array holds several."""
    v = orjson.loads(line)
    return len(v) if isinstance(v, list) else 1


@contextmanager
def assigned_worker(broker, settings, tmp: Path, tag: str):
    """A `tripguard run` process on the given topics, yielded (with the match of its log line)
    once it owns every partition; terminated on the way out."""
    worker = WorkerProcess(
        broker.bootstrap,
        settings,
        tmp / f"state-{tag}",
        tmp / f"{tag}.log",
        extra_args=["--checkpoint-interval-s", "5"],
    ).start()
    try:
        yield worker, worker.wait_for_log(r"(\S+ \S+) INFO tripguard.stream: assigned partitions \[0, 1, 2, 3\]", 120)
    finally:
        worker.terminate()
        worker.stop()


def catch_up(broker, tmp: Path, name: str, pings: Path, trips: Path, n_pings: int, want: set) -> dict:
    settings = unique_settings(f"bench-{name}")
    make_topics(broker.bootstrap, settings, PARTITIONS)
    t0 = time.monotonic()
    produce(broker.bootstrap, settings, pings, trips)
    produce_s = time.monotonic() - t0
    raw_s = raw_ceiling(broker.bootstrap, settings.pings_topic, n_pings)
    with assigned_worker(broker, settings, tmp, name) as (worker, line):
        t_assigned = datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # the worker's own clock
        wait_for_pings(worker, n_pings, 600)
        worker_s = time.time() - t_assigned
        time.sleep(5)  # pause-close of the last ended trips
        equal = set(alert_ids(broker.bootstrap, settings.alerts_topic)) == want
    return {
        "produce_s": round(produce_s, 2),
        "raw_seconds": round(raw_s, 3),
        "raw_pings_per_s": round(n_pings / raw_s),
        "worker_seconds": round(worker_s, 3),
        "worker_pings_per_s": round(n_pings / worker_s),
        "worker_share_of_raw": round(raw_s / worker_s, 3),
        "alert_set_equals_replay": equal,
    }


def first_pings(src: Path, dst: Path, n: int) -> tuple[Path, int]:
    """The file's first lines holding about n pings, and how many they hold."""
    got = 0
    with open(src, "rb") as fh, open(dst, "wb") as out:
        for line in fh:
            if got >= n:
                break
            got += ping_count(line)
            out.write(line)
    return dst, got


def live(broker, tmp: Path, shape: str, pings: Path, trips: Path, share: float, top: float, seconds: float) -> dict:
    """Traffic of one shape at share x top pings/s for about `seconds`, into a running worker."""
    rate = share * top
    tag = f"{shape}-{share * 100:.0f}"
    part, n = first_pings(pings, tmp / f"live-{tag}.jsonl", int(rate * seconds))
    settings = unique_settings(f"bench-live-{tag}")
    make_topics(broker.bootstrap, settings, PARTITIONS)
    with assigned_worker(broker, settings, tmp, f"live-{tag}") as (worker, _):
        done = produce(broker.bootstrap, settings, part, trips, rate=rate)
        # the producer's own clock, from its first send to its last delivery (not its start-up)
        achieved = float(re.search(rb"in [0-9.]+ s, ([0-9.]+) pings/s", done.stdout).group(1))
        wait_for_pings(worker, n, 120)
        time.sleep(5)
        m = worker.metrics()
    n_lat = m.get("tripguard_ping_to_alert_seconds_count", 0)

    def ms(q):
        return None if not n_lat else round(1000 * quantile(m, "tripguard_ping_to_alert_seconds", q), 1)

    return {
        "shape": shape,
        "share_of_max": round(share * 100),
        "rate_pings_per_s": round(rate),
        "achieved_pings_per_s": round(achieved),
        "achieved_share_of_max": round(100 * achieved / top),
        "pings": n,
        "alerts_with_latency": int(n_lat),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "mean_ms": None if not n_lat else round(1000 * m["tripguard_ping_to_alert_seconds_sum"] / n_lat, 1),
        "batch_p99_ms": round(1000 * quantile(m, "tripguard_batch_seconds", 0.99), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 trips")
    ap.add_argument("--trips", type=int, default=None)
    ap.add_argument("--live-seconds", type=float, default=None, help="traffic per latency run")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    tune_gc_for_throughput()  # as `tripguard replay` and `tripguard run` do; the raw reader gains too
    n_trips = args.trips or (200 if args.quick else 1000)
    live_s = args.live_seconds or (10.0 if args.quick else 30.0)

    shapes, table = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp_name:
        tmp = Path(tmp_name)
        sim_pings, trips = simulate(tmp / "traffic", n_trips, args.seed)
        files = {
            "single": reshape(sim_pings, tmp / "single.jsonl", 1),
            "batched": reshape(sim_pings, tmp / "batched.jsonl", 10),
        }
        with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
            for name, pings in files.items():
                n_pings = sum(map(ping_count, pings.open("rb")))
                n_messages = sum(1 for _ in pings.open("rb"))
                started = time.perf_counter()
                result = replay(pings, trips, tmp / f"replay-{name}", progress=False)
                replay_s = time.perf_counter() - started
                want = {a["alert_id"] for a in result.alerts}
                r = catch_up(broker, tmp, name, pings, trips, n_pings, want)
                r.update(
                    {
                        "pings": n_pings,
                        "messages": n_messages,
                        "alerts": len(want),
                        "replay_pings_per_s": round(n_pings / replay_s),
                    }
                )
                shapes[name] = r
                print(
                    f"{name:8} {n_pings} pings in {n_messages} messages: raw consume+decode {r['raw_pings_per_s']:,} "
                    f"pings/s, worker {r['worker_pings_per_s']:,} pings/s ({r['worker_share_of_raw']:.0%} of raw), "
                    f"replay {r['replay_pings_per_s']:,}; alerts equal replay: {r['alert_set_equals_replay']}",
                    flush=True,
                )
            latency = []
            for name in files:  # the worker's catch-up rate of each shape is its maximum
                top = shapes[name]["worker_pings_per_s"]
                for share in (0.25, 0.5, 0.75):
                    lat = live(broker, tmp, name, files[name], trips, share, top, live_s)
                    latency.append(lat)
                    print(
                        f"live {name:7} at {lat['share_of_max']}% of max: {lat['rate_pings_per_s']:,} pings/s asked, "
                        f"{lat['achieved_pings_per_s']:,} produced ({lat['achieved_share_of_max']}% of max): "
                        f"ping->alert p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms over "
                        f"{lat['alerts_with_latency']} alerts",
                        flush=True,
                    )

    for name, r in shapes.items():
        table.append(
            {
                "name": f"Kafka end to end, {name}-ping messages ({r['pings']:,} pings)",
                "measured": f"{r['worker_pings_per_s']:,} pings/s ({r['worker_share_of_raw']:.0%} of raw)",
                "beside": f"raw aiokafka consume + orjson decode {r['raw_pings_per_s']:,} pings/s, same run",
                "target": "≥ 80 % of raw",
                "met": "yes" if r["worker_share_of_raw"] >= 0.8 else "no",
            }
        )
    for lat in latency:
        # The producer shares the 2 cores with the broker and the worker; when it cannot offer the
        # asked rate, the row says what was offered, and the target is not claimed for that point.
        offered = lat["achieved_share_of_max"] >= 0.9 * lat["share_of_max"]
        met = ""
        if lat["share_of_max"] == 50:
            if not offered:
                met = f"not measured: the producer offered only {lat['achieved_share_of_max']} %"
            else:
                met = "yes" if lat["p99_ms"] is not None and lat["p99_ms"] <= 250 else "no"
        table.append(
            {
                "name": f"ping→alert latency, {lat['shape']}-ping messages, {lat['share_of_max']} % of max "
                f"({lat['rate_pings_per_s']:,} pings/s asked, {lat['achieved_pings_per_s']:,} offered = "
                f"{lat['achieved_share_of_max']} %)",
                "measured": f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms",
                "beside": f"{lat['alerts_with_latency']} alerts",
                "target": "p99 ≤ 250 ms at 50 %" if lat["share_of_max"] == 50 else "",
                "met": met,
            }
        )
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "simulated_trips": n_trips,
        "shapes": shapes,
        "latency": latency,
        "table": table,
    }
    out = REPO / "benchmarks" / "results" / "stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    if not all(r["alert_set_equals_replay"] for r in shapes.values()):
        raise SystemExit("the streamed alert set differs from replay's")


if __name__ == "__main__":
    main()
