"""What Kafka-backed trip state costs, and the worker's throughput beside a baseline tree.

    python benchmarks/bench_state.py                  # ~10k live trips; throughput beside `main`
    python benchmarks/bench_state.py --quick          # ~2k live trips, one throughput round
    python benchmarks/bench_state.py --baseline REF   # any git ref (exported with git archive)

1. State at N live trips. One engine (one partition) holding N live trips, built by replaying the
   first part of a simulation with about N trips running at once (`tripguard simulate
   --concurrency`), then, on the embedded broker:
   - bytes per live trip: the whole state as changelog records (tripguard.engine.tripstate), by kind;
   - a checkpoint after CHECKPOINT_S of traffic (what a 5 s checkpoint interval writes at the
     trace's ping rate) and one where every live trip changed: records, bytes, the time to encode
     them and to write them (records, then the marker, acks=all);
   - restore: the changelog partition (a full write plus those two checkpoints) read to its end,
     folded against the committed offsets and loaded into a fresh engine; per 10k live trips.
2. Worker throughput: bench_stream's catch-up run (all traffic on the topics first, then one
   worker process owning 4 partitions; time from its assignment to its last ping, so a restore
   on assignment counts) of single-ping
   messages, for the baseline tree and this tree, back to back, ROUNDS times (the order flips
   each round), on one broker. Reported: the ratio of the medians, and each round's ratio (the
   machine is shared: single runs move by much more than 10 %).
Writes benchmarks/results/state.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from benchmarks.bench_stream import PARTITIONS, ping_count, reshape, simulate, wait_for_pings  # noqa: E402
from tests.stream.helpers import WorkerProcess, alert_ids, make_topics, produce, unique_settings  # noqa: E402
from tripguard.config.settings import Settings  # noqa: E402
from tripguard.engine.core import Engine  # noqa: E402
from tripguard.engine.tripstate import TripRecords  # noqa: E402
from tripguard.io.inputs import merge_on_ts, read_messages  # noqa: E402
from tripguard.io.replay import batches, checked, replay  # noqa: E402
from tripguard.runtime import tune_gc_for_throughput  # noqa: E402
from tripguard.stream.broker import EmbeddedBroker  # noqa: E402
from tripguard.stream.changelog import Checkpoint, fold, read_partition, write_checkpoint  # noqa: E402
from tripguard.stream.topics import create_topics  # noqa: E402

CHECKPOINT_S = 5.0


# ---- 1. state costs ---------------------------------------------------------------------------------


def engine_at_peak(pings: Path, trips: Path, want_live: int):
    """An engine replayed up to the moment it holds want_live live trips (or its peak), the
    batches after that moment, and how many live trips it holds."""
    engine = Engine.from_settings(Settings())
    stream = merge_on_ts(checked(read_messages(pings, "pings")), checked(read_messages(trips, "trips")))
    it = batches(stream, [], 2000)
    for batch, _, _ in it:
        engine.process(batch)
        if engine.live_trips >= want_live:
            return engine, it
    raise SystemExit(f"the simulation never had {want_live} trips running at once: simulate more")


def family(key: bytes) -> str:
    return key.split(b"/")[0].decode()


def sizes(records) -> dict:
    out: dict[str, int] = {}
    for k, v in records:
        out[family(k)] = out.get(family(k), 0) + len(k) + (len(v) if v is not None else 0)
    return out


async def write(producer, tp, records, n: int, offsets: dict) -> tuple[float, int]:
    started = time.perf_counter()
    at = await write_checkpoint(producer, tp, records, Checkpoint(f"bench-{n}", offsets, "bench", "trips"), None)
    return time.perf_counter() - started, at


async def state_costs(bootstrap: str, pings: Path, trips: Path, want_live: int) -> dict:
    engine, rest = engine_at_peak(pings, trips, want_live)
    live = engine.live_trips
    records = TripRecords(engine)
    settings = unique_settings("bench-state", partitions=1)
    await create_topics(bootstrap, settings, partitions=1)
    tp = TopicPartition(settings.changelog_topic, 0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=9 << 20)
    await producer.start()
    out: dict = {"live_trips": live}
    try:
        # the whole state (a first checkpoint, or one after the changelog was re-created)
        records.rewrite_all()
        started = time.perf_counter()
        full = records.changes()
        encode_s = time.perf_counter() - started
        write_s, _ = await write(producer, tp, full, 0, {"pings": 0, "trips": 0})
        records.saved()
        by_kind = sizes(full)
        total = sum(by_kind.values())
        out["full"] = {
            "records": len(full),
            "bytes": total,
            "bytes_per_live_trip": round(total / live),
            "bytes_per_live_trip_by_kind": {k: round(v / live) for k, v in sorted(by_kind.items())},
            "encode_s": round(encode_s, 3),
            "write_s": round(write_s, 3),
        }
        # CHECKPOINT_S of traffic, then a checkpoint
        start_wm = engine.watermark
        for batch, _, _ in rest:
            out_ = engine.process(batch)
            records.processed(batch.trip_ids(), out_)
            if engine.watermark >= start_wm + CHECKPOINT_S * 1000:
                break
        touched = len(records.touched)
        started = time.perf_counter()
        incremental = records.changes()
        encode_s = time.perf_counter() - started
        write_s, _ = await write(producer, tp, incremental, 1, {"pings": 1, "trips": 1})
        records.saved()
        b = sum(sizes(incremental).values())
        out["after_5s_of_traffic"] = {
            "trips_touched": touched,
            "records": len(incremental),
            "bytes": b,
            "bytes_per_touched_trip": round(b / max(1, touched)),
            "encode_s": round(encode_s, 3),
            "write_s": round(write_s, 3),
        }
        # every live trip changed since the last checkpoint
        records.touch(engine.live_trip_ids())
        started = time.perf_counter()
        every = records.changes()
        encode_s = time.perf_counter() - started
        write_s, _ = await write(producer, tp, every, 2, {"pings": 2, "trips": 2})
        records.saved()
        b = sum(sizes(every).values())
        n = engine.live_trips
        out["every_live_trip_changed"] = {
            "live_trips": n,
            "records": len(every),
            "bytes": b,
            "bytes_per_trip": round(b / n),
            "encode_s": round(encode_s, 3),
            "write_s": round(write_s, 3),
            "seconds_per_10k_live_trips": round((encode_s + write_s) * 10_000 / n, 3),
        }
    finally:
        await producer.stop()
    # restore: read, fold, load
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    try:
        t0 = time.perf_counter()
        log, end = await read_partition(consumer, tp)
        t1 = time.perf_counter()
        restored = fold(log, end, {"pings": 2, "trips": 2}, "bench", "trips")
        t2 = time.perf_counter()
        fresh = Engine.from_settings(Settings())
        TripRecords(fresh).load(restored.records)
        t3 = time.perf_counter()
    finally:
        await consumer.stop()
    assert fresh.live_trips == engine.live_trips and restored.checkpoint.id == "bench-2"
    assert TripRecords(fresh).snapshot() == TripRecords(engine).snapshot()  # restored exactly
    n = fresh.live_trips
    out["restore"] = {
        "live_trips": n,
        "changelog_records": len(log),
        "changelog_bytes": sum(len(k) + len(v or b"") for _, k, v in log),
        "read_s": round(t1 - t0, 3),
        "fold_s": round(t2 - t1, 3),
        "load_s": round(t3 - t2, 3),
        "seconds_per_10k_live_trips": round((t3 - t0) * 10_000 / n, 3),
    }
    return out


# ---- 2. throughput beside a baseline tree ---------------------------------------------------------


def export_tree(ref: str, dst: Path) -> Path:
    """The tree of `ref`, runnable with this venv: `python -m tripguard` from it imports its own
    tripguard (kernels/ and data/ linked where the package layout puts them)."""
    dst.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    for name in ("kernels", "data"):
        if (dst / name).is_dir() and not (dst / "tripguard" / name).exists():
            (dst / "tripguard" / name).symlink_to(dst / name, target_is_directory=True)
    return dst


def catch_up(broker, tmp: Path, tag: str, tree: Path, pings: Path, trips: Path, n_pings: int, want: set) -> float:
    settings = unique_settings(f"bench-tp-{tag}")
    make_topics(broker.bootstrap, settings, PARTITIONS)
    produce(broker.bootstrap, settings, pings, trips)
    worker = WorkerProcess(
        broker.bootstrap,
        settings,
        tmp / f"state-{tag}",
        tmp / f"{tag}.log",
        extra_args=["--checkpoint-interval-s", "5"],
        cwd=tree,
    ).start()
    try:
        line = worker.wait_for_log(r"(\S+ \S+) INFO tripguard.stream: assigned partitions \[0, 1, 2, 3\]", 300)
        t_assigned = datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        wait_for_pings(worker, n_pings, 600)
        seconds = time.time() - t_assigned
        time.sleep(5)
        if set(alert_ids(broker.bootstrap, settings.alerts_topic)) != want:
            raise SystemExit(f"{tag}: the streamed alert set differs from replay's")
        return n_pings / seconds
    finally:
        worker.terminate()
        worker.stop()


def throughput(tmp: Path, baseline_ref: str, n_trips: int, rounds: int) -> dict:
    baseline = export_tree(baseline_ref, tmp / "baseline")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", baseline_ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    sim_pings, trips = simulate(tmp / "traffic", n_trips, 5)
    pings = reshape(sim_pings, tmp / "single.jsonl", 1)
    n_pings = sum(map(ping_count, pings.open("rb")))
    want = {a["alert_id"] for a in replay(pings, trips, tmp / "replay", progress=False).alerts}
    runs: dict[str, list[float]] = {"baseline": [], "this": []}
    with EmbeddedBroker(log_path=tmp / "tansu-tp.log") as broker:
        # one unmeasured run of each: the baseline tree compiles its kernels into its own cache
        for name, tree in (("baseline", baseline), ("this", REPO)):
            catch_up(broker, tmp, f"warm-{name}", tree, pings, trips, n_pings, want)
        for r in range(rounds):
            for name, tree in (
                (("baseline", baseline), ("this", REPO)) if r % 2 == 0 else (("this", REPO), ("baseline", baseline))
            ):
                rate = catch_up(broker, tmp, f"{name}-{r}", tree, pings, trips, n_pings, want)
                runs[name].append(round(rate))
                print(f"  round {r}: {name:8} {rate:,.0f} pings/s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    pairs = [round(t / b, 3) for t, b in zip(runs["this"], runs["baseline"])]  # each round's two runs are adjacent
    return {
        "baseline_ref": baseline_ref,
        "baseline_commit": commit,
        "pings": n_pings,
        "rounds": rounds,
        "pings_per_s": runs,
        "median_pings_per_s": med,
        "ratio_this_to_baseline": round(med["this"] / med["baseline"], 3),
        "ratio_per_round": pairs,
        "median_ratio_per_round": statistics.median(pairs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--live", type=int, default=None, help="live trips to hold (default 10,000; quick 2,000)")
    ap.add_argument("--baseline", default="main", help="git ref to compare the worker's throughput with")
    ap.add_argument("--rounds", type=int, default=None, help="throughput runs per tree (default 5; quick 1)")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    tune_gc_for_throughput()
    want_live = args.live or (2_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 5)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    }
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp_name:
        tmp = Path(tmp_name)
        # trips last ~15 min here: this many started over the span keeps ~want_live running
        sim = tmp / "many"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tripguard",
                "simulate",
                "--out",
                str(sim),
                "--trips",
                str(int(want_live * 1.3)),
                "--concurrency",
                str(int(want_live * 1.15)),
                "--seed",
                "7",
            ],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        with EmbeddedBroker(log_path=tmp / "tansu.log") as broker:
            state = asyncio.run(state_costs(broker.bootstrap, sim / "pings.jsonl", sim / "trips.jsonl", want_live))
        report["state"] = state
        f, inc, every, rest = (
            state["full"],
            state["after_5s_of_traffic"],
            state["every_live_trip_changed"],
            state["restore"],
        )
        print(
            f"{state['live_trips']:,} live trips: {f['bytes_per_live_trip']:,} changelog bytes per live trip "
            f"{f['bytes_per_live_trip_by_kind']}",
            flush=True,
        )
        print(
            f"checkpoint after {CHECKPOINT_S:g} s of traffic: {inc['trips_touched']:,} trips touched, {inc['records']:,} "
            f"records, {inc['bytes']:,} bytes ({inc['bytes_per_touched_trip']:,} per trip); encode {inc['encode_s']} s, "
            f"write {inc['write_s']} s",
            flush=True,
        )
        print(
            f"checkpoint with every live trip changed: {every['bytes']:,} bytes, encode {every['encode_s']} s, "
            f"write {every['write_s']} s = {every['seconds_per_10k_live_trips']} s per 10k live trips",
            flush=True,
        )
        print(
            f"restore of {rest['live_trips']:,} live trips from {rest['changelog_records']:,} changelog records "
            f"({rest['changelog_bytes']:,} bytes): read {rest['read_s']} s, fold {rest['fold_s']} s, load "
            f"{rest['load_s']} s = {rest['seconds_per_10k_live_trips']} s per 10k live trips",
            flush=True,
        )
        if not args.skip_throughput:
            tp = throughput(tmp, args.baseline, 200 if args.quick else 1000, rounds)
            report["throughput"] = tp
            print(
                f"worker catch-up, single-ping messages ({tp['pings']:,} pings): {args.baseline} "
                f"{tp['median_pings_per_s']['baseline']:,.0f} pings/s, this tree {tp['median_pings_per_s']['this']:,.0f} "
                f"(median of {rounds}): ratio {tp['ratio_this_to_baseline']}; per round {tp['ratio_per_round']}, "
                f"median {tp['median_ratio_per_round']}",
                flush=True,
            )
    out = REPO / "benchmarks" / "results" / "state.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
