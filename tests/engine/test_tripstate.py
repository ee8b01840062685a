"""A partition's engine state as changelog records (tripguard.engine.tripstate): restored mid-stream into
a fresh engine it carries on exactly as an uninterrupted run; the records a checkpoint writes
(only what changed) always add up to the whole state."""

from __future__ import annotations

import numpy as np
import pytest

from tests.streams import build_batches, comparable, make_stream
from tripguard.config.settings import Settings
from tripguard.engine.core import Engine
from tripguard.engine.tripstate import PATH_CHUNK, StateFormatError, TripRecords, pack, unpack
from tripguard.geo import encode_polyline_array
from tripguard.kernels import reorder as R


def routed_stream(seed: int, n_trips: int) -> list[dict]:
    """make_stream with planned routes (the trip's own track; one as GeoJSON), so corridors are
    part of the state."""
    messages = make_stream(seed, n_trips)
    tracks: dict[str, list] = {}
    for m in messages:
        if m["source"] == "pings":
            tracks.setdefault(m["value"]["trip_id"], []).append((m["value"]["lat"], m["value"]["lon"]))
    out = []
    for i, m in enumerate(messages):
        v = m["value"]
        if m["source"] == "trips" and v["type"] == "trip_started" and len(tracks.get(v["trip_id"], [])) > 2:
            track = np.array([p for p in tracks[v["trip_id"]] if p != (0.0, 0.0)][::3])
            v = dict(
                v,
                planned_route=encode_polyline_array(track[:, 0], track[:, 1])
                if i % 2
                else {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in track.tolist()]},
            )
        out.append({"source": m["source"], "value": v})
    return out


def run(engine, batches, records: TripRecords | None = None):
    alerts, verdicts = [], []
    for b in batches:
        out = engine.process(b)
        if records is not None:
            records.processed(b.trip_id, out)
        alerts += out.alerts
        verdicts += out.verdicts
    return alerts, verdicts


def whole_run(messages, batches):
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    a, v = run(engine, batches)
    out = engine.flush()
    return comparable(a + out.alerts, v + out.verdicts)


def test_restored_records_continue_exactly():
    messages = routed_stream(11, n_trips=24)
    batches = build_batches(messages, list(range(50, len(messages), 97)))
    want = whole_run(messages, batches)
    for cut in (1, len(batches) // 2, len(batches) - 1):
        first = Engine.from_settings(Settings(), clock=lambda: 0)
        a1, v1 = run(first, batches[:cut])
        records = TripRecords(first).snapshot()
        kinds = {k.split(b"/")[0] for k in records}
        assert first.live_trips and {b"trip", b"events", b"path"} <= kinds
        second = Engine.from_settings(Settings(), clock=lambda: 0)
        TripRecords(second).load(records)
        assert second.live_trips == first.live_trips and second.watermark == first.watermark
        # the same closed trips, oldest first (the engine forgets them from the front); the order
        # among trips closed at the same watermark is not kept and does not matter
        assert dict(second.closed) == dict(first.closed)
        closed_at = [wm for wm, _ in second.closed.values()]
        assert closed_at == sorted(closed_at)
        a2, v2 = run(second, batches[cut:])
        out = second.flush()
        assert comparable(a1 + a2 + out.alerts, v1 + v2 + out.verdicts) == want


def test_the_state_holds_corridors_held_and_parked_fixes_and_orphans():
    """The parts of a trip most easily forgotten are in the records and come back."""
    messages = routed_stream(12, n_trips=30)
    batches = build_batches(messages, list(range(20, len(messages), 41)))
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    seen = {"corridor": 0, "held": 0, "parked": 0, "orphans": 0, "long_path": 0}
    for b in batches:
        engine.process(b)
        t = engine.trips
        for s in t.live_slots().tolist():
            seen["corridor"] += t.corridors.holds(s)
            seen["held"] += t.held_fixes(s) is not None
            seen["parked"] += t.parked_fixes(s) is not None
            seen["orphans"] += bool(t.meta[s].orphans)
            seen["long_path"] += t.paths.count[s] > PATH_CHUNK
        if all(seen.values()):
            break
    assert all(seen.values()), seen
    other = Engine.from_settings(Settings(), clock=lambda: 0)
    TripRecords(other).load(TripRecords(engine).snapshot())
    for trip_id in engine.live_trip_ids():
        a, b = engine.export_trip(trip_id), other.export_trip(trip_id)
        assert a.city == b.city and a.meta.started == b.meta.started and a.meta.ended == b.meta.ended
        assert all(np.array_equal(a.rows[k], b.rows[k]) for k in a.rows)
        assert (a.held is None) == (b.held is None) and (a.held is None or np.array_equal(a.held, b.held))
        assert (a.parked is None) == (b.parked is None)
        assert a.parked is None or np.array_equal(a.parked, b.parked)
        assert all(np.array_equal(x, y) for x, y in zip(a.path, b.path))
        assert (a.corridor is None) == (b.corridor is None)
        assert a.corridor is None or all(np.array_equal(x, y) for x, y in zip(a.corridor, b.corridor))
        assert len(a.meta.orphans) == len(b.meta.orphans) <= 1
        if a.meta.orphans:
            assert all(np.array_equal(x, y) for x, y in zip(a.meta.orphans[0], b.meta.orphans[0]))


def test_incremental_checkpoints_add_up_to_the_whole_state():
    """What each checkpoint writes (the trips touched since the last one), folded like a changelog
    (last value per key, a tombstone deletes), equals the whole state at every checkpoint -- so
    a trip never changes without being touched, and closed trips leave nothing behind."""
    messages = routed_stream(13, n_trips=40)
    batches = build_batches(messages, list(range(30, len(messages), 53)))
    want = whole_run(messages, batches)
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    records = TripRecords(engine)
    changelog: dict[bytes, bytes] = {}
    tombstones = written = 0
    alerts, verdicts = [], []
    for i, b in enumerate(batches):
        out = engine.process(b)
        records.processed(b.trip_id, out)
        alerts += out.alerts
        verdicts += out.verdicts
        if i % 3 == 2:
            changes = records.changes()
            for key, value in changes:
                if value is None:
                    tombstones += changelog.pop(key, None) is not None
                else:
                    changelog[key] = value
            written += len(changes)
            records.saved()
            assert changelog == records.snapshot()
            if i == len(batches) // 2:
                restored = Engine.from_settings(Settings(), clock=lambda: 0)
                TripRecords(restored).load(changelog)
                a2, v2 = run(restored, batches[i + 1 :])
                out = restored.flush()
                assert comparable(alerts + a2 + out.alerts, verdicts + v2 + out.verdicts) == want
    assert tombstones > 0 and written > len(changelog)


def test_a_failed_checkpoint_writes_its_changes_again():
    messages = routed_stream(14, n_trips=12)
    batches = build_batches(messages, list(range(40, len(messages), 60)))
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    records = TripRecords(engine)
    run(engine, batches[:3], records)
    lost = dict(records.changes())  # never acknowledged: no saved()
    run(engine, batches[3:5], records)
    again = dict(records.changes())
    assert set(lost) <= set(again) | {k for k in lost if k.startswith(b"closed/")}
    records.saved()
    assert records.changes() == []


def test_a_row_of_another_width_refuses_to_load():
    messages = routed_stream(15, n_trips=6)
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    run(engine, build_batches(messages[: len(messages) // 2], []))
    records = TripRecords(engine).snapshot()
    key = next(k for k in records if k.startswith(b"trip/"))
    doc, arrays = unpack(records[key])
    arrays["row.kin"] = np.concatenate([arrays["row.kin"], [0.0]])  # a kinematics field more than this version has
    with pytest.raises(ValueError, match="kin"):
        TripRecords(Engine.from_settings(Settings(), clock=lambda: 0)).load({**records, key: pack(doc, arrays)})
    doc["format"] = 99
    with pytest.raises(StateFormatError, match="format 99"):
        TripRecords(Engine.from_settings(Settings(), clock=lambda: 0)).load({**records, key: pack(doc, arrays)})


def test_a_record_written_before_the_reorder_columns_loads_with_no_park():
    messages = routed_stream(16, n_trips=6)
    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    run(engine, build_batches(messages[: len(messages) // 2], []))
    records = TripRecords(engine).snapshot()
    old = {}
    for key, value in records.items():
        if key.startswith(b"trip/"):
            doc, arrays = unpack(value)
            arrays = {k: a for k, a in arrays.items() if k not in ("row.newest_ts", "row.park", "parked")}
            value = pack(doc, arrays)
        old[key] = value
    other = Engine.from_settings(Settings(), clock=lambda: 0)
    TripRecords(other).load(old)
    assert other.live_trips == engine.live_trips
    t = other.trips
    live = t.live_slots()
    assert not t.park[live].any() and (t.newest_ts[live] == R.NO_TS).all()
