"""A trip's storage has one owner (TripTable: rows, held-fix pool, path log, corridors) with one
grow and one release path. Started tiny, every store must grow and compact, the output must not
change, and when every trip has closed everything is given back."""

from __future__ import annotations

import numpy as np

from tests.engine.test_tripstate import routed_stream, whole_run
from tests.streams import build_batches, comparable
from tripguard.config.settings import Settings
from tripguard.detectors.route import Corridors
from tripguard.engine.core import Engine
from tripguard.engine.pathlog import PathLog
from tripguard.engine.trips import TripTable
from tripguard.kernels import kinematics as K


def test_release_gives_back_the_held_fix_buffer():
    t = TripTable(capacity=4)
    s = t.allocate("a", "d", 0)
    entry = t.held.take()
    t.kin[s, K.S_HELD_SLOT] = entry + 1
    assert t.held.in_use == 1
    t.release(s)
    assert t.held.in_use == 0 and t.kin[s, K.S_HELD_SLOT] == 0 and len(t) == 0 and t.slot("a") == -1


def test_tiny_storage_grows_compacts_and_releases(monkeypatch):
    calls = {"path_compactions": 0, "corridor_compactions": 0}

    def counting(name, real):
        def wrapper(self, *args):
            calls[name] += 1
            return real(self, *args)

        return wrapper

    monkeypatch.setattr(PathLog, "_make_room", counting("path_compactions", PathLog._make_room))
    monkeypatch.setattr(Corridors, "_make_room", counting("corridor_compactions", Corridors._make_room))
    messages = routed_stream(21, n_trips=40)
    batches = build_batches(messages, list(range(25, len(messages), 37)))
    want = whole_run(messages, batches)

    engine = Engine.from_settings(Settings(), clock=lambda: 0)
    engine.trips = TripTable(capacity=2, path_capacity=16, corridor_cells=8, corridor_points=4)
    t = engine.trips
    alerts, verdicts = [], []
    peak_live = 0
    for b in batches:
        out = engine.process(b)
        alerts += out.alerts
        verdicts += out.verdicts
        peak_live = max(peak_live, len(t))
    out = engine.flush()
    assert comparable(alerts + out.alerts, verdicts + out.verdicts) == want

    assert t.capacity >= peak_live > 2  # the table grew (doubling), and with it the per-slot stores
    assert t.paths.head.size == t.capacity and t.corridors.cell_lo.size == t.capacity
    assert calls["path_compactions"] > 1 and calls["corridor_compactions"] > 1
    assert t.paths.ts.size > 16 and t.corridors.cells.size > 8
    # every trip closed: every piece of storage is back
    assert len(t) == 0 and sorted(t._free) == list(range(t.capacity))
    assert t.held.in_use == 0 and t.paths.live == 0
    assert not any(t.corridors.holds(s) for s in range(t.capacity))
    assert all(m is None for m in t.meta)
    assert not np.any(t.kin) and not np.any(t.route) and not np.any(t.city)
