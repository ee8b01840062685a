"""`tripguard replay`: files in, the streaming Engine in the middle, alerts and verdicts out.

Writes DIR/alerts.jsonl, DIR/verdicts.jsonl, DIR/dead_letters.jsonl (input that breaks the
contract, with the reason, source and line), DIR/summary.json and DIR/driver_risk.jsonl (the
driver-risk stage over the verdicts, and reviewers' decisions when given: tripguard.risk.offline).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson

from tripguard.config.settings import load_settings
from tripguard.engine.batch import BatchBuilder
from tripguard.engine.core import Engine, Output
from tripguard.errors import ContractError, InputError
from tripguard.io.codec import dumps, pings_from_value, trip_event_from_obj
from tripguard.io.inputs import PINGS, Message, check_readable, input_format, merge_on_ts, partition_of, read_messages
from tripguard.io.replay_columnar import ColumnarInputs, columnar_batches
from tripguard.risk.offline import DRIVER_RISK_FILE, RiskReplay, lateness_ms
from tripguard.runtime import tune_gc_for_throughput

if TYPE_CHECKING:
    from tripguard.contract import TripEnded, TripStarted

BATCH_ROWS = 20_000


@dataclass
class ReplayResult:
    summary: dict
    alerts: list[dict] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)


def validate(message: Message):
    """(rows, event) for a message, or raise ContractError."""
    if message.error is not None:
        raise ContractError("", message.error)
    if message.source == PINGS:
        return pings_from_value(message.value), None
    return None, trip_event_from_obj(message.value)


@dataclass(frozen=True, slots=True)
class Checked:
    """A message validated before the merge: its rows or event, or why it breaks the contract."""

    message: Message
    key_ts: int  # the merge key: an invalid message keeps the previous valid one's, so it can
    rows: list | None  # never hold back the good messages behind it
    event: TripStarted | TripEnded | None
    error: str | None


def checked(messages: Iterable[Message]) -> Iterator[Checked]:
    last = -(2**62)
    for m in messages:
        try:
            rows, event = validate(m)
        except ContractError as exc:
            yield Checked(m, last, None, None, str(exc))
            continue
        last = m.key_ts
        yield Checked(m, m.key_ts, rows, event, None)


def batches(items: Iterable[Checked], dead: list, batch_rows: int = BATCH_ROWS) -> Iterator[tuple]:
    """Checked messages into batches: (batch, the message of each row, input bytes consumed)."""
    builder = BatchBuilder()
    row_message: list[Message] = []
    n_bytes = 0
    for c in items:
        m = c.message
        n_bytes += len(m.raw) + 1
        if c.error is not None:
            dead.append((m, c.error))
            continue
        if c.rows is not None:
            builder.add_pings(c.rows)
            row_message.extend([m] * len(c.rows))
        else:
            builder.add_trip_event(cast("TripStarted | TripEnded", c.event))
            row_message.append(m)
        if len(builder) >= batch_rows:
            yield builder.build(), row_message, n_bytes
            row_message, n_bytes = [], 0
    if len(builder):
        yield builder.build(), row_message, n_bytes


def mine(items: Iterable[Checked], part: tuple[int, int]) -> Iterator[Checked]:
    """The checked messages of partition part[0] of part[1] (replay --workers): a valid message's
    by its trip_id (partition_of, as produce keys it), every invalid one in partition 0."""
    p, n = part
    for c in items:
        if c.error is not None:
            keep = p == 0
        else:
            keep = partition_of((c.rows[0].trip_id if c.rows is not None else c.event.trip_id).encode(), n) == p  # type: ignore[union-attr]
        if keep:
            yield c


def _feed(pings: Path, trips: Path, part: tuple[int, int] | None = None):
    """The batches of the two inputs: a JSONL pings file goes the columnar way
    (tripguard.io.replay_columnar), CSV and Parquet message by message; both give the same batches.
    part = (p, n): only partition p's messages (`mine`)."""
    check_readable(pings)
    if input_format(pings) == "jsonl":
        check_readable(trips)
        input_format(trips)

        def columnar(dead: list, batch_rows: int) -> Iterator[tuple]:
            inherited = _for_workers.get("inputs")
            inputs = (
                inherited if inherited and inherited.paths == (pings, trips) else ColumnarInputs(pings, trips, checked)
            )
            return columnar_batches(inputs, dead, batch_rows, part)

        return columnar
    sides = [checked(read_messages(pings, PINGS)), checked(read_messages(trips, "trips"))]
    if part is not None:
        sides = [mine(side, part) for side in sides]
    stream = merge_on_ts(*sides)
    return lambda dead, batch_rows: batches(stream, dead, batch_rows)


def replay(
    pings: Path,
    trips: Path,
    out_dir: Path,
    tariffs: Path | None = None,
    cities: Path | None = None,
    progress: bool | None = None,
    batch_rows: int = BATCH_ROWS,
    engine: Engine | None = None,
    keep: bool = True,
    part: tuple[int, int] | None = None,
    decisions: Path | None = None,
) -> ReplayResult:
    """Replay two files through an Engine. keep=False does not hold alerts and verdicts in memory
    (the files have them). part = (p, n): only the trips of partition p of n (replay_workers, which
    runs the driver-risk stage itself, over all partitions' verdicts: a driver's trips span them)."""
    engine = engine or Engine.from_settings(load_settings(tariffs=tariffs, cities=cities))
    feed = _feed(pings, trips, part)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot create ({exc.strerror})") from None
    dead: list[tuple[Message, str]] = []
    result = ReplayResult(summary={})
    started = time.perf_counter()
    total_bytes = pings.stat().st_size + trips.stat().st_size
    show = progress if progress is not None else (total_bytes > 20_000_000 and sys.stderr.isatty())
    with (
        open(out_dir / "alerts.jsonl", "wb") as fa,
        open(out_dir / "verdicts.jsonl", "wb") as fv,
        open(out_dir / "dead_letters.jsonl", "wb") as fd,
        _progress(show, total_bytes) as advance,
        open(out_dir / DRIVER_RISK_FILE, "wb") if part is None else nullcontext() as fr,
    ):
        risk = _risk_replay(engine, fr, decisions) if part is None else None

        def write(output: Output, row_message: list[Message] | None) -> None:
            for a in output.alerts:
                fa.write(dumps(a) + b"\n")
            for v in output.verdicts:
                fv.write(dumps(v) + b"\n")
            if keep:
                result.alerts.extend(output.alerts)
                result.verdicts.extend(output.verdicts)
            for row, reason in output.rejected:
                dead.append((cast("list[Message]", row_message)[row], reason))
            if risk is not None:
                risk.verdicts(output.verdicts)

        for batch, row_message, n_bytes in feed(dead, batch_rows):
            write(engine.process(batch), row_message)
            advance(n_bytes)
        write(engine.flush(), None)
        if risk is not None:
            dead.extend(risk.finish())
        for m, reason in dead:
            fd.write(orjson.dumps(_dead_letter(m, reason)) + b"\n")
    elapsed = time.perf_counter() - started
    s = engine.stats
    result.summary = {
        "pings": s.pings,
        "trip_events": s.trip_events,
        "trips": s.trips_closed,
        "alerts": sum(s.alerts_by_kind.values()),
        "alerts_by_kind": s.alerts_by_kind,
        "pings_used": s.used,
        "pings_dropped": {**s.dropped, "late_after_close": s.late_after_close},
        "duplicate_trip_events": s.duplicate_events,
        "dead_letters": len(dead),
        "dead_letters_by_source": {src: sum(1 for m, _ in dead if m.source == src) for src in ("pings", "trips")},
        "elapsed_s": round(elapsed, 3),
        "pings_per_s": round(s.pings / elapsed, 1) if elapsed > 0 else None,
    }
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
    return result


OUTPUTS = ("alerts.jsonl", "verdicts.jsonl", "dead_letters.jsonl")


def _risk_replay(engine: Engine, out, decisions: Path | None, part: tuple[int, int] | None = None) -> RiskReplay:
    return RiskReplay(engine.cities, out, lateness_ms(engine.idle_ms, engine.grace_ms), decisions, part)


def _dead_letter(m: Message, reason: str) -> dict:
    return {"source": m.source, "position": m.position, "reason": reason, "value": m.raw.decode("utf-8", "replace")}


def _order(name: str):
    """How replay_workers orders a merged output file: alerts by evidence time and id, verdicts by
    end time and trip, dead letters by source and position (a line's key, from its JSON)."""
    if name == "dead_letters.jsonl":
        return lambda d: (d["source"], d["position"], d["reason"])
    return lambda d: (d["ts"], d["alert_id"] if "alert_id" in d else d["trip_id"])


# What replay_workers hands to the processes it forks (they inherit this module's memory, nothing
# is pickled): "inputs", the pings file decoded once and the trip events read (each worker
# validates its own partition's; absent with the spawn start method or input that is not
# JSONL: each worker reads the files itself); "risk", the merged verdicts and the
# engine whose cities and lateness the driver-risk stage takes.
_for_workers: dict[str, Any] = {}


@contextmanager
def _handed_to_workers(**values: Any) -> Iterator[None]:
    """values in _for_workers while the processes forked inside the block start and run."""
    _for_workers.update(values)
    try:
        yield
    finally:
        for name in values:
            _for_workers.pop(name, None)


def _replay_part(args) -> dict:
    tune_gc_for_throughput()  # as the replay command does in its own process
    pings, trips, out_dir, part, engine_factory, batch_rows = args
    return replay(
        pings, trips, out_dir, progress=False, batch_rows=batch_rows, engine=engine_factory(), keep=False, part=part
    ).summary


def replay_workers(
    pings: Path,
    trips: Path,
    out_dir: Path,
    workers: int,
    engine_factory: Callable[[], Engine],
    progress: bool | None = None,
    batch_rows: int = BATCH_ROWS,
    decisions: Path | None = None,
) -> ReplayResult:
    """replay on `workers` processes: trips split by Kafka's default partitioner (the trip_id key,
    partition_of), one process and one Engine per partition (each its own watermark, as a
    consumer group of workers: docs/streaming.md, design decision 1). The outputs are merged into
    out_dir in a fixed order (`_order`); alerts (as a set), verdicts and dead letters are one
    replay's. The driver-risk stage then runs over the merged verdicts (a driver's trips span the
    partitions), split by driver_id over the workers (`_risk_by_driver`). engine_factory is called
    in each process (picklable, for the spawn start method)."""
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    if workers == 1:
        return replay(
            pings,
            trips,
            out_dir,
            progress=progress,
            batch_rows=batch_rows,
            engine=engine_factory(),
            keep=False,
            decisions=decisions,
        )
    _feed(pings, trips)  # unreadable input: one reason here, before any process starts
    if decisions is not None:
        try:
            check_readable(decisions)
        except InputError as exc:
            raise InputError(f"--decisions {exc}") from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot create ({exc.strerror})") from None
    started = time.perf_counter()
    parts = [out_dir / f".part-{p}-of-{workers}" for p in range(workers)]
    method = _start_method(pings, trips, engine_factory)
    decoded = (
        {"inputs": ColumnarInputs(pings, trips, checked)} if method == "fork" and input_format(pings) == "jsonl" else {}
    )
    with _handed_to_workers(**decoded), multiprocessing.get_context(method).Pool(workers) as pool:
        summaries = pool.map(
            _replay_part,
            [(pings, trips, parts[p], (p, workers), engine_factory, batch_rows) for p in range(workers)],
            chunksize=1,
        )
    # each output: (document, its line), from every partition
    docs = {
        name: [(orjson.loads(line), line) for d in parts for line in (d / name).read_bytes().splitlines() if line]
        for name in OUTPUTS
    }
    for d in parts:
        shutil.rmtree(d)
    for name, pairs in docs.items():
        key = _order(name)
        pairs.sort(key=lambda x: key(x[0]))
    events, risk_dead = _risk_by_driver(
        [v for v, _ in docs["verdicts.jsonl"]], decisions, workers, engine_factory, method
    )
    (out_dir / DRIVER_RISK_FILE).write_bytes(b"".join(line + b"\n" for line in events))
    if risk_dead:  # rejected decisions join the dead letters, in their order
        key = _order("dead_letters.jsonl")
        docs["dead_letters.jsonl"] = sorted(
            docs["dead_letters.jsonl"] + [(d, orjson.dumps(d)) for d in risk_dead], key=lambda x: key(x[0])
        )
    for name, pairs in docs.items():
        (out_dir / name).write_bytes(b"".join(line + b"\n" for _, line in pairs))
    elapsed = time.perf_counter() - started
    summary = _sum_summaries(summaries)
    summary["dead_letters"] += len(risk_dead)
    summary["elapsed_s"] = round(elapsed, 3)
    summary["pings_per_s"] = round(summary["pings"] / elapsed, 1) if elapsed > 0 else None
    summary["workers"] = workers
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ReplayResult(summary=summary)


def _risk_part(args) -> tuple[list[tuple[tuple, bytes]], list[dict]]:
    """The driver-risk stage over the drivers of partition part (all of them for None), from the
    handed-over verdicts and the decisions file: its events with their order key, and its dead
    letters."""
    decisions, part = args
    verdicts, engine = _for_workers["risk"]
    out = io.BytesIO()
    risk = _risk_replay(engine, out, decisions, part)
    risk.verdicts(verdicts)
    dead = [_dead_letter(m, reason) for m, reason in risk.finish()]
    return [(_event_order(orjson.loads(line)), line) for line in out.getvalue().splitlines()], dead


def _event_order(event: dict) -> tuple[int, int, str]:
    """Where one stage over every driver emits a driver_risk event: it processes the records in
    (ts, verdict before decision, id) order (tripguard.risk.stage), an event as its record comes."""
    trigger = event["trigger"]
    return (event["ts"], 0 if trigger["type"] == "verdict" else 1, trigger["id"])


def _risk_by_driver(
    verdicts: list[dict],
    decisions: Path | None,
    workers: int,
    engine_factory: Callable[[], Engine],
    method: str,
) -> tuple[list[bytes], list[dict]]:
    """The driver-risk stage over the merged verdicts, split by driver_id over the workers (a
    driver's events depend on that driver's records alone, taken in order), merged in the order
    one stage emits them. In this process when the workers cannot inherit the verdicts (spawn)."""
    with _handed_to_workers(risk=(verdicts, engine_factory())):
        if method == "fork":
            with multiprocessing.get_context(method).Pool(workers) as pool:
                parts = pool.map(_risk_part, [(decisions, (p, workers)) for p in range(workers)], chunksize=1)
        else:
            parts = [_risk_part((decisions, None))]
    events = sorted((e for events, _ in parts for e in events), key=lambda e: e[0])
    return [line for _, line in events], [d for _, dead in parts for d in dead]


def _start_method(pings: Path, trips: Path, engine_factory: Callable[[], Engine]) -> str:
    """fork where it is safe, with the kernels loaded once in this process (a spawned process
    imports everything and loads every kernel from the cache again: seconds of CPU each). Not
    where polars was imported: a forked child of a process whose polars thread pool has started
    deadlocks on a lock held by a thread that did not survive the fork (the CSV/Parquet readers)."""
    if "fork" not in multiprocessing.get_all_start_methods() or "polars" in sys.modules:
        return "spawn"
    import tempfile

    from tripguard.runtime import warm_up

    with tempfile.TemporaryDirectory(prefix="tripguard-warm-") as tmp:
        if input_format(pings) == "jsonl" and input_format(trips) == "jsonl":
            # the first lines of the inputs through a throwaway engine: every kernel replay calls
            heads: list[Path] = []
            for path in (pings, trips):
                with open(path, "rb") as fh:
                    heads.append(Path(tmp) / f"head-{len(heads)}.jsonl")
                    heads[-1].write_bytes(b"".join(line for _, line in zip(range(200), fh)))
            replay(heads[0], heads[1], Path(tmp) / "out", progress=False, engine=engine_factory(), keep=False)
        warm_up(engine_factory())  # a trip with a planned route, a teleport and a fare claim
    return "fork"


def _sum_summaries(summaries: list[dict]) -> dict:
    """The partitions' summaries added up (counts, and counts by key)."""
    out: dict = {}
    for s in summaries:
        for k, v in s.items():
            if isinstance(v, dict):
                into = out.setdefault(k, {})
                for kk, vv in v.items():
                    into[kk] = into.get(kk, 0) + vv
            elif isinstance(v, int) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
    return out


class _progress:
    """A rich progress bar on stderr, by bytes read; a no-op when not shown."""

    def __init__(self, show: bool, total: int):
        self.show, self.total = show, total

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "replay", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True
        )
        self.bar.start()
        task = self.bar.add_task("replay", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.show:
            self.bar.stop()
