"""Streaming throughput and latency: one `tripguard run` worker against the embedded broker.

    python benchmarks/bench_stream.py            # 1000 simulated trips (~2-3 min on 2 cores)
    python benchmarks/bench_stream.py --quick    # 200 trips, for a smoke run

What is measured (everything on this one machine: broker, producer and worker share the cores)
- replay: `tripguard.replay.replay` over the same files, in-process: the engine's pings/s with
  file reading, the baseline the stream is compared with.
- catch-up: all traffic is produced first, then one worker process (4 partitions) starts; time
  from its group assignment to the moment its tripguard_pings_total metric reaches the ping
  count: decode + event-time alignment + engine + outputs produced + checkpoints, in pings/s.
- live: a fresh worker on fresh topics while traffic is produced at --rate pings/s; the worker's
  ping->alert latency histogram (alert detected_at minus the Kafka timestamp of the record that
  revealed it) and its micro-batch latency histogram. Quantiles are bucket upper bounds.
- the alert sets of both runs are compared with replay's (equal, or the benchmark fails).
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
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.stream.helpers import (WorkerProcess, alert_ids, make_topics, produce,  # noqa: E402
                                  unique_settings)
from tripguard.replay import replay  # noqa: E402
from tripguard.stream.broker import EmbeddedBroker  # noqa: E402

PARTITIONS = 4


def simulate(directory: Path, trips: int, seed: int) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "tripguard", "simulate", "--out", str(directory), "--trips", str(trips),
                    "--seed", str(seed)], check=True, capture_output=True, cwd=REPO)
    return directory / "pings.jsonl", directory / "trips.jsonl"


def quantile(metrics: dict[str, float], name: str, q: float) -> float | None:
    buckets = sorted((float(m.group(1)) if m.group(1) != "+Inf" else float("inf"), v)
                     for k, v in metrics.items() if (m := re.match(rf'{name}_bucket{{le="([^"]+)"}}', k)))
    total = metrics.get(f"{name}_count", 0)
    if not total:
        return None
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return None


def wait_for_pings(worker: WorkerProcess, n_pings: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.metrics().get("tripguard_pings_total", 0) >= n_pings:
            return
        time.sleep(0.05)
    raise SystemExit(f"worker did not process {n_pings} pings within {timeout_s} s:\n{worker.log()[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 trips")
    ap.add_argument("--trips", type=int, default=None)
    ap.add_argument("--rate", type=float, default=1000.0, help="pings/s for the live run")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    n_trips = args.trips or (200 if args.quick else 1000)

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp_name:
        tmp = Path(tmp_name)
        pings, trips = simulate(tmp / "traffic", n_trips, args.seed)
        n_pings = sum(len(v) if isinstance(v := json.loads(line), list) else 1 for line in pings.open())
        n_messages = sum(1 for _ in pings.open()) + sum(1 for _ in trips.open())

        started = time.perf_counter()
        result = replay(pings, trips, tmp / "replay", progress=False)
        replay_s = time.perf_counter() - started
        want = {a["alert_id"] for a in result.alerts}

        with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
            # catch-up: everything on the topics first, then the worker
            bulk = unique_settings("bench")
            make_topics(broker.bootstrap, bulk, PARTITIONS)
            t0 = time.monotonic()
            produce(broker.bootstrap, bulk, pings, trips)
            produce_s = time.monotonic() - t0
            worker = WorkerProcess(broker.bootstrap, bulk, tmp / "state-bulk", tmp / "bulk.log",
                                   extra_args=["--checkpoint-interval-s", "5"]).start()
            try:
                line = worker.wait_for_log(r"(\S+ \S+) INFO tripguard.stream: assigned partitions \[0, 1, 2, 3\]", 120)
                # the worker's own log time of its assignment (the log poll would be late)
                t_assigned = datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                wait_for_pings(worker, n_pings, 600)
                catchup_s = time.time() - t_assigned
                time.sleep(5)  # pause-close of the last ended trips
                bulk_metrics = worker.metrics()
                bulk_equal = set(alert_ids(broker.bootstrap, bulk.alerts_topic)) == want
            finally:
                worker.terminate()
                worker.stop()

            # live: traffic at a fixed rate into a running worker
            live = unique_settings("bench-live")
            make_topics(broker.bootstrap, live, PARTITIONS)
            worker = WorkerProcess(broker.bootstrap, live, tmp / "state-live", tmp / "live.log",
                                   extra_args=["--checkpoint-interval-s", "5"]).start()
            try:
                worker.wait_for_log(r"assigned partitions \[0, 1, 2, 3\]", 120)
                t0 = time.monotonic()
                produce(broker.bootstrap, live, pings, trips, rate=args.rate)
                live_produce_s = time.monotonic() - t0
                wait_for_pings(worker, n_pings, 120)
                time.sleep(5)
                m = worker.metrics()
                live_equal = set(alert_ids(broker.bootstrap, live.alerts_topic)) == want
            finally:
                worker.terminate()
                worker.stop()

    lat_n = m.get("tripguard_ping_to_alert_seconds_count", 0)
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "traffic": {"simulated_trips": n_trips, "pings": n_pings, "messages": n_messages, "alerts": len(want)},
        "replay": {"seconds": round(replay_s, 2), "pings_per_s": round(n_pings / replay_s)},
        "produce_bulk": {"seconds": round(produce_s, 2), "messages_per_s": round(n_messages / produce_s)},
        "catch_up": {"seconds": round(catchup_s, 2), "pings_per_s": round(n_pings / catchup_s),
                     "batches": int(bulk_metrics.get("tripguard_batch_seconds_count", 0)),
                     "alert_set_equals_replay": bulk_equal},
        "live": {"rate_pings_per_s": args.rate, "produce_seconds": round(live_produce_s, 1),
                 "alerts_with_latency": int(lat_n),
                 "ping_to_alert_mean_ms": round(1000 * m["tripguard_ping_to_alert_seconds_sum"] / lat_n, 1)
                 if lat_n else None,
                 "ping_to_alert_p50_le_s": quantile(m, "tripguard_ping_to_alert_seconds", 0.5),
                 "ping_to_alert_p95_le_s": quantile(m, "tripguard_ping_to_alert_seconds", 0.95),
                 "batch_mean_ms": round(1000 * m["tripguard_batch_seconds_sum"] / m["tripguard_batch_seconds_count"], 2),
                 "batch_p95_le_s": quantile(m, "tripguard_batch_seconds", 0.95),
                 "alert_set_equals_replay": live_equal},
    }
    print(f"{n_trips} simulated trips: {n_pings} pings in {n_messages} messages, {len(want)} alerts")
    print(f"{'run':<28}{'seconds':>9}{'pings/s':>10}")
    print(f"{'replay (in-process)':<28}{replay_s:>9.2f}{n_pings / replay_s:>10.0f}")
    print(f"{'worker catch-up (1 proc)':<28}{catchup_s:>9.2f}{n_pings / catchup_s:>10.0f}")
    print(f"{'bulk produce':<28}{produce_s:>9.2f}{'':>10}  ({n_messages / produce_s:.0f} messages/s)")
    live = report["live"]
    print(f"live at {args.rate:g} pings/s: ping->alert mean {live['ping_to_alert_mean_ms']} ms, "
          f"p50 <= {live['ping_to_alert_p50_le_s']} s, p95 <= {live['ping_to_alert_p95_le_s']} s over {int(lat_n)} "
          f"alerts; batch mean {live['batch_mean_ms']} ms")
    print(f"alert sets equal replay: catch-up {bulk_equal}, live {live_equal}")
    out = REPO / "benchmarks" / "results" / "stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    if not (bulk_equal and live_equal):
        raise SystemExit("the streamed alert set differs from replay's")


if __name__ == "__main__":
    main()
