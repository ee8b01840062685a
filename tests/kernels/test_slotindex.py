"""The compiled trip id -> slot table (kernels/slotindex.py) against its naive twin, a dict, over
random inserts, removals and lookups; tiny starting sizes drive the rehash and arena compaction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tripguard.engine.batch import Names
from tripguard.kernels.slotindex import SlotIndex

# a few short ids (collisions of the probe sequence are certain in a 64-entry table) and some
# non-ASCII ones (bytes, not characters, are hashed and compared)
IDS = [f"t{k}" for k in range(40)] + ["trajet-é", "旅程", "t1 ", ""]

ops = st.lists(st.tuples(st.sampled_from(["insert", "remove", "lookup"]), st.sampled_from(IDS)), max_size=300)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # FNV-1a wraps (JIT off: numpy says so)
@settings(max_examples=60, deadline=None)
@given(ops)
def test_slot_index_agrees_with_a_dict(steps):
    index = SlotIndex(capacity=2, id_bytes=4)
    twin: dict[str, int] = {}
    free: list[int] = []
    capacity = 2
    for op, trip_id in steps:
        if op == "insert" and trip_id not in twin:
            if not free:
                free = list(range(capacity, 2 * capacity))
                capacity *= 2
                index.ensure_slots(capacity)
            slot = free.pop()
            index.insert(trip_id, slot)
            twin[trip_id] = slot
        elif op == "insert":
            with pytest.raises(ValueError):
                index.insert(trip_id, free[-1] if free else capacity - 1)
        elif op == "remove":
            assert index.remove(trip_id) == twin.get(trip_id, -1)
            if trip_id in twin:
                free.append(twin.pop(trip_id))
        assert index.get(trip_id) == twin.get(trip_id, -1)
        assert len(index) == len(twin)
    names = Names(IDS)
    codes = np.array([k for k in range(len(IDS)) for _ in range(2)], np.int64)  # each name twice
    got = index.lookup(codes, names.blob, names.offsets)
    assert got.tolist() == [twin.get(IDS[c], -1) for c in codes.tolist()]
    assert np.flatnonzero(index.live[:capacity]).tolist() == sorted(twin.values())
