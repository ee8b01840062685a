"""Test plumbing for the streaming suite: traffic files, real worker processes, reading topics."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner

from tests.streams import make_stream
from tripguard.config.settings import Settings
from tripguard.stream.topics import create_topics

REPO = Path(__file__).resolve().parents[2]
# Far enough past the traffic that every partition's watermark passes every trip's idle timeout,
# end grace and orphan wait (the defaults: 1800 s, 120 s, 120 s).
TICK_AFTER_MS = 2_400_000


def unique_settings(prefix: str, **overrides) -> Settings:
    """Topic names and a group of our own on the session broker."""
    tag = f"{prefix}.{uuid.uuid4().hex[:6]}"
    return Settings(
        pings_topic=f"{tag}.pings",
        trips_topic=f"{tag}.trips",
        alerts_topic=f"{tag}.alerts",
        verdicts_topic=f"{tag}.verdicts",
        dlq_topic=f"{tag}.dlq",
        decisions_topic=f"{tag}.decisions",
        changelog_topic=f"{tag}.state-changelog",
        group=f"{tag}.group",
        **overrides,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "TRIPGUARD_PINGS_TOPIC": settings.pings_topic,
        "TRIPGUARD_TRIPS_TOPIC": settings.trips_topic,
        "TRIPGUARD_ALERTS_TOPIC": settings.alerts_topic,
        "TRIPGUARD_VERDICTS_TOPIC": settings.verdicts_topic,
        "TRIPGUARD_DLQ_TOPIC": settings.dlq_topic,
        "TRIPGUARD_DECISIONS_TOPIC": settings.decisions_topic,
        "TRIPGUARD_CHANGELOG_TOPIC": settings.changelog_topic,
        "TRIPGUARD_GROUP": settings.group,
    }


def trip_id_for_partition(partition: int, n_partitions: int, prefix: str) -> str:
    """A trip id that the default partitioner puts on `partition`."""
    parts = list(range(n_partitions))
    for i in range(10_000):
        candidate = f"{prefix}-{i}"
        if DefaultPartitioner()(candidate.encode(), parts, parts) == partition:
            return candidate
    raise AssertionError("no trip id found")


def tick_messages(messages: list[dict], n_partitions: int, tag: str) -> list[dict]:
    """One ping per partition far after the traffic: it moves every partition's watermark past every
    deadline, as continuing live traffic would (a finite stream never ends for a worker)."""
    last_ts = max(m["value"]["ts"] for m in messages if isinstance(m["value"], dict) and "ts" in m["value"])
    ts = last_ts + TICK_AFTER_MS
    out = []
    for p in range(n_partitions):
        trip_id = trip_id_for_partition(p, n_partitions, f"tick-{tag}")
        out.append(
            {
                "source": "pings",
                "value": {"trip_id": trip_id, "driver_id": "clock", "ts": ts + p, "lat": 41.15, "lon": -8.61},
            }
        )
    return out


def write_traffic(
    directory: Path, messages: list[dict], extra_lines: dict[str, list[bytes]] | None = None
) -> tuple[Path, Path]:
    """pings.jsonl and trips.jsonl in the order of `messages`; extra_lines[source] are raw lines
    interleaved evenly (malformed input)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[bytes]] = {"pings": [], "trips": []}
    for m in messages:
        lines[m["source"]].append(json.dumps(m["value"]).encode())
    for source, extra in (extra_lines or {}).items():
        lines[source] = _interleave(lines[source], extra)
    pings, trips = directory / "pings.jsonl", directory / "trips.jsonl"
    pings.write_bytes(b"".join(x + b"\n" for x in lines["pings"]))
    trips.write_bytes(b"".join(x + b"\n" for x in lines["trips"]))
    return pings, trips


def _interleave(base: list[bytes], extra: list[bytes]) -> list[bytes]:
    if not extra:
        return list(base)
    out: list[bytes] = []
    every = max(1, len(base) / len(extra))
    j = 0
    for i, line in enumerate(base):
        out.append(line)
        while j < len(extra) and j * every <= i:
            out.append(extra[j])
            j += 1
    out.extend(extra[j:])
    return out


def traffic(
    directory: Path,
    seed: int,
    n_trips: int,
    n_partitions: int,
    shift_ms: int = 0,
    extra_lines: dict[str, list[bytes]] | None = None,
) -> tuple[Path, Path, list[dict]]:
    messages = make_stream(seed, n_trips)
    if shift_ms:
        messages = [_shift(m, shift_ms) for m in messages]
    messages = messages + tick_messages(messages, n_partitions, f"{seed}")
    pings, trips = write_traffic(directory, messages, extra_lines)
    return pings, trips, messages


def _shift(m: dict, shift_ms: int) -> dict:
    v = dict(m["value"])
    v["ts"] += shift_ms
    return {"source": m["source"], "value": v}


def replay_alerts(pings: Path, trips: Path, out: Path, env: dict | None = None) -> list[dict]:
    cli(["replay", "--pings", str(pings), "--trips", str(trips), "--out", str(out)], env=env)
    return [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines() if line]


def base_env(extra: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIPGUARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli(
    args: list[str], env: dict | None = None, timeout_s: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "tripguard", *args], cwd=REPO, env=base_env(env), capture_output=True, timeout=timeout_s
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"tripguard {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.decode()[-3000:]}")
    return proc


def produce(
    bootstrap: str, settings: Settings, pings: Path, trips: Path, rate: float | None = None, background: bool = False
):
    args = [
        sys.executable,
        "-m",
        "tripguard",
        "produce",
        "--bootstrap",
        bootstrap,
        "--pings",
        str(pings),
        "--trips",
        str(trips),
    ]
    if rate:
        args += ["--rate", str(rate)]
    if background:
        return subprocess.Popen(
            args, cwd=REPO, env=base_env(settings_env(settings)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    proc = subprocess.run(args, cwd=REPO, env=base_env(settings_env(settings)), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return proc


@dataclass
class WorkerProcess:
    """`python -m tripguard run` as a real process (so SIGKILL is real)."""

    bootstrap: str
    settings: Settings
    state_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    metrics_port: int | None = None
    cwd: Path = REPO  # the source tree whose `tripguard` runs (benchmarks compare two)
    command: list[str] | None = None  # another `tripguard` command line instead of `run` (with extra_args)

    def start(self) -> WorkerProcess:
        command = self.command or [
            "run",
            "--bootstrap",
            self.bootstrap,
            "--state-dir",
            str(self.state_dir),
            "--metrics-port",
            "0",
            "--checkpoint-interval-s",
            "1",
            "--pause-close-s",
            "2",
            "--batch-max-ms",
            "100",
        ]
        args = [sys.executable, "-m", "tripguard", *command, *self.extra_args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log_offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            args,
            cwd=self.cwd,
            env=base_env({**settings_env(self.settings), **self.env}),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.metrics_port = None
        return self

    def log(self) -> str:
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_offset)
            return fh.read().decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout_s: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode} before /{pattern}/:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no /{pattern}/ in the worker log within {timeout_s} s:\n{self.log()[-4000:]}")

    def port(self) -> int:
        if self.metrics_port is None:
            self.metrics_port = int(self.wait_for_log(r"metrics on http://[\d.]+:(\d+)/metrics").group(1))
        return self.metrics_port

    def metrics(self) -> dict[str, float]:
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port()}/metrics", timeout=5).read().decode()
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def health(self) -> dict:
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port()}/healthz", timeout=5).read())

    def diagnostics(self) -> str:
        """Metrics, health and the log's tail, for a failure message."""
        try:
            m = {k: v for k, v in self.metrics().items() if "_bucket" not in k and "_created" not in k}
            health = self.health()
        except Exception as exc:  # the worker may be gone
            m, health = {}, repr(exc)
        return f"\nworker metrics: {m}\nhealth: {health}\nlog:\n{self.log()[-4000:]}"

    def owned(self) -> set[int]:
        return set(self.health()["partitions"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired as err:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(
                    f"worker did not stop on SIGTERM within {timeout_s} s:\n{self.log()[-3000:]}"
                ) from err
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


def read_topic(bootstrap: str, topic: str, timeout_s: float = 2.0) -> list:
    """Every record of a topic (all partitions), from the beginning, until it is quiet for timeout_s."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def go():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in parts])
            await consumer.seek_to_beginning()
            end = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            records = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
                for recs in got.values():
                    records.extend(recs)
                done = all([await consumer.position(tp) >= off for tp, off in end.items()])
                if done and not got:
                    break
            return records
        finally:
            await consumer.stop()

    return asyncio.run(go())


def alert_ids(bootstrap: str, topic: str) -> list[str]:
    return [json.loads(r.value)["alert_id"] for r in read_topic(bootstrap, topic)]


def wait_until(
    predicate, timeout_s: float, interval_s: float = 0.5, what: str = "condition", worker: WorkerProcess | None = None
):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(
        f"{what} not reached within {timeout_s} s (last: {last!r})" + (worker.diagnostics() if worker else "")
    )


def make_topics(bootstrap: str, settings: Settings, partitions: int) -> None:
    asyncio.run(create_topics(bootstrap, settings, partitions=partitions))


async def start_worker_with_traffic(bootstrap: str, settings: Settings, pings: Path, trips: Path):
    """A Worker running on this event loop, once it holds its partitions, and the traffic produced
    to it: (worker, its task)."""
    from tripguard.stream.worker import Worker

    worker = Worker(settings, bootstrap)
    task = asyncio.create_task(worker.run())
    while not worker.parts:
        assert not task.done(), task
        await asyncio.sleep(0.1)
    await asyncio.to_thread(produce, bootstrap, settings, pings, trips)
    return worker, task
