"""The stage against replay's output: whatever the arrival order across upstream partitions,
however often a record repeats and wherever a restart falls, the driver_risk events are replay's.
Bad decisions and malformed records are rejected with a reason and change nothing else."""

from __future__ import annotations

import random

import orjson
import pytest

from tests.risk.helpers import MIN, T0, decision, raw, verdict
from tripguard.config.files import CityTables
from tripguard.errors import ContractError
from tripguard.risk.offline import lateness_ms
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, parse

LATENESS = lateness_ms(1_800_000, 120_000)  # replay's, with the default idle timeout and end grace
SOURCES = [f"verdicts[{p}]" for p in range(4)]


def lines(path) -> list[bytes]:
    return [x for x in path.read_bytes().splitlines() if x.strip()]


def replay_events(run) -> dict[str, dict]:
    events = {e["event_id"]: e for e in map(orjson.loads, lines(run / "out" / "driver_risk.jsonl"))}
    assert len(events) >= 5 and {e["level"] for e in events.values()} >= {"medium", "high"}
    return events


def arrivals(run, rng: random.Random, repeat: float = 0.0) -> list[tuple[str, bytes, str | None]]:
    """The run's verdicts spread over four upstream partitions and read in bursts of random size
    from random partitions (as a consumer catching up would), each partition in replay's order;
    each decision somewhere before the first verdict later than it; `repeat` of the records twice."""
    verdicts = lines(run / "out" / "verdicts.jsonl")
    queues = {s: [] for s in SOURCES}
    for v in verdicts:
        queues[rng.choice(SOURCES)].append(v)
    stream = []
    while any(queues.values()):
        source = rng.choice([s for s in SOURCES if queues[s]])
        for _ in range(min(len(queues[source]), rng.randint(1, 60))):
            stream.append((VERDICT, queues[source].pop(0), source))
    ts = [orjson.loads(v)["ts"] for _, v, _ in stream]
    placed: dict[int, list] = {}
    for d in lines(run / "decisions.jsonl"):
        decided_at = orjson.loads(d)["decided_at"]
        first_later = next((i for i, t in enumerate(ts) if t > decided_at), len(ts))
        placed.setdefault(rng.randint(0, first_later), []).append((DECISION, d, None))
    stream = [x for i in range(len(stream) + 1) for x in placed.get(i, []) + stream[i : i + 1]]
    out = []
    for item in stream:
        out.append(item)
        if rng.random() < repeat:
            out.append(item)
    return out


def run_stage(items, stage: RiskStage | None = None) -> tuple[RiskStage, list[dict]]:
    stage = stage or RiskStage(CityTables.load(), SOURCES, LATENESS)
    events = []
    for offset, (kind, value, source) in enumerate(items):
        out = stage.add(Input(kind, parse(kind, value), None, source, offset))
        assert not out.rejected, out.rejected
        events += out.events
    return stage, events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_arrival_order_over_four_partitions_gives_replays_events(fleet_run, seed):
    want = replay_events(fleet_run)
    stage, events = run_stage(arrivals(fleet_run, random.Random(seed)))
    events += stage.flush().events
    assert stage.stats["late"] == 0
    assert {e["event_id"]: e for e in events} == want
    assert len(events) == len(want)


def test_repeated_records_change_nothing(fleet_run):
    want = replay_events(fleet_run)
    stage, events = run_stage(arrivals(fleet_run, random.Random(7), repeat=0.3))
    events += stage.flush().events
    assert stage.stats["duplicates"] > 100
    assert {e["event_id"]: e for e in events} == want and len(events) == len(want)


@pytest.mark.parametrize("seed", [11, 12])
def test_a_restart_from_a_checkpoint_repeats_ids_and_loses_none(fleet_run, seed):
    """State saved at a random point (its records and the first offset still buffered), more
    processed, then lost; a new stage loads the records and reads again from that offset."""
    rng = random.Random(seed)
    want = replay_events(fleet_run)
    items = arrivals(fleet_run, rng)
    first = RiskStage(CityTables.load(), SOURCES, LATENESS)
    at = rng.randint(len(items) // 4, 3 * len(items) // 4)
    _, before = run_stage(items[:at], first)
    saved = dict(first.all_records())
    resume = first.resume_offset()
    resume = at if resume is None else resume
    _, lost = run_stage([(k, v, s) for k, v, s in items[at : at + rng.randint(1, 300)]], first)  # then the crash
    second = RiskStage(CityTables.load(), SOURCES, LATENESS)
    second.load({k: v for k, v in saved.items()})
    _, after = run_stage(items[resume:], second)
    after += second.flush().events
    got = {e["event_id"]: e for e in before + lost + after}
    assert got == want
    assert {e["event_id"] for e in after} | {e["event_id"] for e in before} == set(want)


def test_bad_decisions_are_rejected_with_a_reason_and_change_nothing(fleet_run):
    stage, _ = run_stage(arrivals(fleet_run, random.Random(5)))
    assert not stage.flush().rejected  # every record of the run taken, nothing left waiting
    some = orjson.loads(lines(fleet_run / "out" / "verdicts.jsonl")[-1])
    real = decision(some, "upheld", some["ts"] + MIN)
    bad = {
        "unknown driver": {**decision(some, "upheld", some["ts"] + MIN, 91), "driver_id": "nobody"},
        "unknown trip": {**decision(some, "upheld", some["ts"] + MIN, 92), "trip_id": "no-such-trip"},
        "unknown alerts": {**decision(some, "upheld", some["ts"] + MIN, 93), "alert_ids": ["a" * 32]},
    }
    before = {d: stage.assess(d, some["ts"] + 10 * MIN, explain=False).score for d in stage.histories}
    rejected = []
    for d in bad.values():
        rejected += stage.add(Input(DECISION, parse(DECISION, raw(d)), "origin")).rejected
    rejected += stage.flush().rejected
    reasons = sorted(reason for _, reason in rejected)
    assert len(reasons) == 3 and all(item.origin == "origin" for item, _ in rejected)
    assert reasons[0].startswith("alert_ids: 1 alert(s) trip") and "a" * 32 in reasons[0]
    assert reasons[1] == "driver_id: unknown driver 'nobody' (no trip of theirs in the last 30 days)"
    assert reasons[2].startswith(f"trip_id: driver {some['driver_id']!r} has no trip 'no-such-trip'")
    after = {d: stage.assess(d, some["ts"] + 10 * MIN, explain=False).score for d in stage.histories}
    assert after == before and stage.stats["rejected"] == 3
    assert not stage.add(Input(DECISION, parse(DECISION, raw(real)))).rejected  # the same decision, right, is taken


@pytest.mark.parametrize(
    "kind,value,field",
    [
        (VERDICT, b"{not json", ""),
        (VERDICT, b"[1, 2]", ""),
        (VERDICT, raw({**verdict("t", "d", T0, T0 + MIN), "ts": "1717398000000"}), "ts"),
        (VERDICT, raw({k: v for k, v in verdict("t", "d", T0, T0 + MIN).items() if k != "driver_id"}), "driver_id"),
        (DECISION, raw({**decision(verdict("t", "d", T0, T0 + MIN), "upheld", T0), "decision": "maybe"}), "decision"),
        (
            DECISION,
            raw({k: v for k, v in decision(verdict("t", "d", T0, T0 + MIN), "upheld", T0).items() if k != "event_id"}),
            "event_id",
        ),
        (DECISION, b"", ""),
    ],
)
def test_malformed_records_are_contract_errors_naming_the_field(kind, value, field):
    with pytest.raises(ContractError) as err:
        parse(kind, value)
    assert err.value.field == field and str(err.value)


def test_replay_on_two_workers_writes_one_replay_s_driver_risk_events(fleet_run, tmp_path):
    """replay --workers 2 splits the trips, but a driver's trips span the partitions: the stage runs
    over the merged verdicts (and the decisions), split again by driver over the workers, and
    writes what one process writes, in the same order."""
    from functools import partial

    from tripguard.config.settings import Settings
    from tripguard.engine.core import Engine
    from tripguard.io.replay import replay_workers

    replay_workers(
        fleet_run / "pings.jsonl",
        fleet_run / "trips.jsonl",
        tmp_path / "two",
        2,
        partial(Engine.from_settings, Settings()),
        progress=False,
        decisions=fleet_run / "decisions.jsonl",
    )
    one = (fleet_run / "out" / "driver_risk.jsonl").read_bytes()
    assert one.count(b"\n") >= 5  # the fleet's drivers change level: there is something to compare
    assert (tmp_path / "two" / "driver_risk.jsonl").read_bytes() == one
    assert sorted((tmp_path / "two" / "dead_letters.jsonl").read_bytes().splitlines()) == sorted(
        (fleet_run / "out" / "dead_letters.jsonl").read_bytes().splitlines()
    )
