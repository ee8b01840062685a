"""`tripguard demo` (and `make demo`): the streaming pipeline on one machine.

An embedded broker (unless --bootstrap), a worker in this process, simulated Porto traffic with
labelled fraud sent at a visible rate, and the alerts printed as the worker raises them. At the
end: what was caught, per kind, against the simulator's labels.

Ctrl-C stops it within a moment whatever it is doing: the slow steps (the simulation, a cold
kernel compile) run in child processes that are killed, and the rest awaits.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console

from tripguard.config.settings import Settings
from tripguard.errors import TripguardError
from tripguard.offline.evaluate import evaluate, format_table, read_labels
from tripguard.stream.produce import produce
from tripguard.stream.service import broker_for, run_child, started
from tripguard.stream.worker import Worker  # imported here, not on the event loop (numba takes a while)

log = logging.getLogger("tripguard.stream")

KIND_STYLE = {
    "teleport": "bold magenta",
    "impossible_speed": "bold red",
    "route_deviation": "bold yellow",
    "fare_inflation": "bold cyan",
    "distance_mismatch": "cyan",
    "gps_spoofing": "bold blue",
}


async def simulate_traffic(directory: Path, trips: int, seed: int) -> Path:
    """pings.jsonl, trips.jsonl and labels.csv from `tripguard simulate`, starting now (a child
    process: a few seconds that would otherwise keep Ctrl-C waiting)."""
    code, err = await run_child(
        "-m",
        "tripguard",
        "simulate",
        "--out",
        str(directory),
        "--trips",
        str(trips),
        "--seed",
        str(seed),
        "--start-ts",
        str(int(time.time() * 1000)),
        "--concurrency",
        str(min(trips, 40)),
    )
    if code != 0:
        raise TripguardError(f"simulating the traffic failed: {err.decode(errors='replace').strip()}")
    return directory


def describe(alert: dict[str, Any]) -> str:
    """One readable line: the numbers a reviewer looks at first."""
    ev = alert.get("evidence") or {}
    if isinstance(ev.get("summary"), str):  # the detectors write one sentence for people
        return cast(str, ev["summary"])
    parts = []
    for key, value in ev.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
        if len(parts) == 3:
            break
    return ", ".join(parts)


async def print_alerts(
    bootstrap: str, topic: str, console: Console, seen: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    async with started(consumer):
        await consumer.topics()
        consumer.assign([TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())])
        await consumer.seek_to_beginning()
        ids = set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    a = orjson.loads(r.value)
                    if a["alert_id"] in ids:
                        continue
                    ids.add(a["alert_id"])
                    seen.append(a)
                    style = KIND_STYLE.get(a["kind"], "bold")
                    console.print(
                        f"{time.strftime('%H:%M:%S')}  [{style}]{a['kind']:<17}[/] {a['severity']:<6} "
                        f"score {a['score']:.2f}  trip {a['trip_id']}  driver {a['driver_id']}  "
                        f"[dim]{describe(a)}[/]",
                        highlight=False,
                        soft_wrap=True,
                    )


async def demo(settings: Settings, trips: int, rate: float, seed: int, console: Console) -> int:
    with tempfile.TemporaryDirectory(prefix="tripguard-demo-") as tmp:
        tmp_dir = Path(tmp)
        settings = settings.model_copy(update={"state_dir": tmp_dir / "state"})
        traffic = await simulate_traffic(tmp_dir / "traffic", trips, seed)
        async with broker_for(settings) as (bootstrap, embedded):
            worker = Worker(settings, bootstrap, create_missing_topics=True)
            worker_task = asyncio.create_task(worker.run())
            stop = asyncio.Event()
            seen: list[dict[str, Any]] = []
            printer = asyncio.create_task(print_alerts(bootstrap, settings.alerts_topic, console, seen, stop))
            try:
                while not worker.parts:  # joined the group and was given its partitions
                    if worker_task.done():
                        return await worker_task
                    await asyncio.sleep(0.2)
                console.print(
                    f"[bold]sending {trips} simulated Porto trips at {rate:g} pings/s to {bootstrap}; "
                    f"alerts appear as the worker raises them (Ctrl-C stops)[/]"
                )
                producing = asyncio.create_task(
                    produce(bootstrap, settings, traffic / "pings.jsonl", traffic / "trips.jsonl", rate=rate)
                )
                done, _ = await asyncio.wait({producing, worker_task}, return_when=asyncio.FIRST_COMPLETED)
                if worker_task in done:  # Ctrl-C or an error stopped the worker
                    producing.cancel()
                    return await worker_task
                summary = producing.result()
                console.print(
                    f"[dim]{summary.line()}; waiting {settings.pause_close_s:g} s of quiet for the last "
                    f"trips to close[/]"
                )
                await asyncio.wait({worker_task}, timeout=settings.pause_close_s + 3)
                worker.stopping.set()
                code = await worker_task
            finally:
                stop.set()
                await printer
        latency = worker.metrics.ping_to_alert_seconds.collect()[0].samples  # type: ignore[index]
        count = next(x.value for x in latency if x.name.endswith("_count"))
        total = next(x.value for x in latency if x.name.endswith("_sum"))
        if count:
            console.print(
                f"ping -> alert latency (alert detected_at minus the ping's Kafka timestamp): mean "
                f"{1000 * total / count:.0f} ms over {count:.0f} alerts"
            )
        by_kind = Counter(a["kind"] for a in seen)
        console.print(f"\n[bold]{len(seen)} alerts[/]: " + ", ".join(f"{k} {n}" for k, n in by_kind.most_common()))
        alerted: dict[str, set[str]] = {}
        for a in seen:
            if not a["evidence"].get("related"):  # scored on root causes (tripguard.offline.evaluate)
                alerted.setdefault(a["trip_id"], set()).add(a["kind"])
        console.print("Against the simulator's labels (injected fraud):")
        labels, _ = read_labels(traffic / "labels.csv")
        console.print(format_table(evaluate(labels, alerted)), highlight=False)
        return code
