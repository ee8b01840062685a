"""Per-trip state as a struct of arrays, indexed by slot.

Numbers the kernels need live in arrays (one column per field, contiguous); what only Python
reads (ids, the trip events) lives in lists indexed by the same slot; the accepted fixes live in
a PathLog (tripguard/engine/pathlog.py) and planned-route corridors in a Corridors arena
(tripguard/detectors/route.py). TripTable owns all of a trip's storage: `allocate` is the one way
in, `release` the one way out (every piece of the trip's storage is given back there), `_grow`
the one place that makes room for more trips. Slots of closed trips are reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from tripguard.detectors.route import Corridors
from tripguard.engine.pathlog import PathLog
from tripguard.engine.terms import EndTerms, StartTerms
from tripguard.kernels import corridor as C
from tripguard.kernels import kinematics as K
from tripguard.kernels import reorder as R
from tripguard.kernels.lifecycle import PH_NONE
from tripguard.kernels.slotindex import SlotIndex

NO_TS = -(2**62)


@dataclass(slots=True)  # no __dict__ per live trip
class TripMeta:
    """What Python keeps per trip besides the arrays."""

    trip_id: str
    driver_id: str
    partition: int
    started: StartTerms | None = None  # the trip's events, as the engine keeps them
    ended: EndTerms | None = None
    ended_row_rejected: str | None = None  # why the trip_ended could not be assessed
    # Tuples, replaced when they grow: most trips never buffer a ping or get an alert, and an
    # empty list or dict per live trip costs 56-64 B (together more than a tenth of a trip's memory).
    orphans: tuple = ()  # chunks of (ts, lat, lon, accuracy, speed, mock) before trip_started
    alert_ids: tuple[str, ...] = ()
    alert_scores: tuple[tuple[str, float], ...] = ()  # (kind, max score), a kind once
    # {alert_id, kind} of the teleport / impossible_speed alerts: a fare or distance finding on
    # the same trip follows from them and names them (evidence.related)
    displaced_by: tuple[dict, ...] = ()

    def scores(self) -> dict[str, float]:
        """kind -> the highest score of the trip's alerts of that kind."""
        return dict(self.alert_scores)

    @property
    def city(self) -> str:
        return self.started.city if self.started is not None else "unknown"


class TripTable:
    """capacity, path_capacity and corridor_cells/points are starting sizes (tests make them tiny
    to drive the grow and compaction paths); every store grows on demand."""

    def __init__(
        self,
        capacity: int = 1024,
        path_capacity: int = 1 << 16,
        corridor_cells: int = 1 << 16,
        corridor_points: int = 1 << 14,
    ):
        # trip id -> slot, compiled: the engine's per-row lookup, and the only one (a dict beside it
        # cost ~80 B a live trip)
        self.index = SlotIndex(capacity)
        self.meta: list[TripMeta | None] = [None] * capacity
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self.kin = K.new_state(capacity)
        self.held = K.HeldPool()  # buffers for held fixes, lent to the few trips that hold some
        self.newest_ts = np.full(capacity, R.NO_TS, np.int64)  # reorder kernel: the newest fix seen
        self.park = np.zeros(capacity, np.int64)  # ... 1 + the trip's entry in `parked` (0: none)
        self.parked = R.ParkPool()  # fixes parked at a trip's start and after a silence (kernels/reorder.py)
        self.route = C.new_route_state(capacity)
        self.route_cell = np.zeros(capacity, np.int64)  # the trip's last H3 cell (corridor kernel)
        self.city = np.zeros(capacity, np.int64)  # row of the per-city params matrices
        # lifecycle columns (kernels/lifecycle.py)
        self.phase = np.full(capacity, PH_NONE, np.int64)
        self.deadline = np.zeros(capacity, np.int64)
        self.last_act = np.full(capacity, NO_TS, np.int64)
        self.implicit = np.zeros(capacity, np.int64)
        self.paths = PathLog(capacity, path_capacity)
        self.corridors = Corridors(capacity, corridor_cells, corridor_points)

    # the per-slot numeric columns and the value a free slot holds: a trip's numbers are these
    # columns' rows (tripguard.engine.tripstate stores them by name and width, not field by field)
    _COLUMNS = {
        "kin": 0.0,
        "route": 0.0,
        "route_cell": 0,
        "phase": PH_NONE,
        "deadline": 0,
        "last_act": NO_TS,
        "implicit": 0,
        "newest_ts": R.NO_TS,
        "park": 0,
    }
    # columns added since the first checkpoint format: a record written before one starts it empty
    _ADDED = frozenset({"newest_ts", "park"})

    @property
    def capacity(self) -> int:
        return len(self.meta)

    def __len__(self) -> int:
        return len(self.index)

    def slot(self, trip_id: str) -> int:
        """The live trip's slot, -1 when it is not live."""
        return self.index.get(trip_id)

    def allocate(self, trip_id: str, driver_id: str, partition: int) -> int:
        if not self._free:
            self._grow()
        s = self._free.pop()
        self.index.insert(trip_id, s)
        self.meta[s] = TripMeta(trip_id, driver_id, partition)
        return s

    def release(self, s: int) -> None:
        """Give back everything the trip in slot s holds: its held-fix buffer, path, corridor, row."""
        meta = cast(TripMeta, self.meta[s])
        self.index.remove(meta.trip_id)
        self.meta[s] = None
        entry = int(self.kin[s, K.S_HELD_SLOT]) - 1  # read before the row is cleared
        if entry >= 0:
            self.held.give_back(entry)
        if self.park[s]:
            self.parked.give_back(int(self.park[s]) - 1)
        self.paths.forget(s)
        self.corridors.remove(s)
        for name, empty in self._COLUMNS.items():
            getattr(self, name)[s] = empty
        self.city[s] = 0
        self._free.append(s)

    def live_slots(self) -> np.ndarray:
        """The live trips' slots, ascending."""
        return np.flatnonzero(self.index.live[: self.capacity]).astype(np.int64)

    # ---- a trip's rows, for checkpoints (tripguard.engine.tripstate) -----------------------------------

    def rows(self, s: int) -> dict[str, np.ndarray]:
        """Copies of slot s's rows of every numeric column. The held-fix entry inside the
        kinematics row and the park entry are indices into this table's pools: they are cleared
        here (held_fixes and parked_fixes give the buffers themselves), so equal trips give equal
        rows in any table."""
        out = {name: np.array(getattr(self, name)[s]) for name in self._COLUMNS}
        out["kin"][K.S_HELD_SLOT] = 0.0
        out["park"] = np.array(0, np.int64)
        return out

    def held_fixes(self, s: int) -> np.ndarray | None:
        """The trip's held-fix buffer (HELD_MAX x N_HELD), or None when it holds none."""
        entry = int(self.kin[s, K.S_HELD_SLOT]) - 1
        return None if entry < 0 else self.held.buf[entry].copy()

    def parked_fixes(self, s: int) -> np.ndarray | None:
        """The trip's park buffer (kernels/reorder.py), or None when it parks none."""
        entry = int(self.park[s]) - 1
        return None if entry < 0 else self.parked.buf[entry].copy()

    def set_rows(
        self, s: int, rows: dict[str, np.ndarray], held: np.ndarray | None, parked: np.ndarray | None = None
    ) -> None:
        """Slot s takes these rows (from `rows`); held-fix and park buffers are lent from this
        table's pools.
        A row whose shape differs from this table's column is refused (state of another version)."""
        for name, empty in self._COLUMNS.items():
            column = getattr(self, name)
            row = rows.get(name)
            if row is None and name in self._ADDED:
                row = np.full(column.shape[1:], empty, column.dtype)
            if row is None or row.shape != column.shape[1:]:
                got = "missing" if row is None else f"shape {row.shape}"
                raise ValueError(f"trip state column {name}: {got}, this engine's is {column.shape[1:]}")
            column[s] = row
        if held is not None:
            if held.shape != self.held.buf.shape[1:]:
                raise ValueError(f"held fixes of shape {held.shape}, this engine's are {self.held.buf.shape[1:]}")
            entry = self.held.take()
            self.held.buf[entry] = held
            self.kin[s, K.S_HELD_SLOT] = entry + 1
        else:
            self.kin[s, K.S_HELD_SLOT] = 0.0
        self.park[s] = 0
        if parked is not None:
            if parked.shape != self.parked.buf.shape[1:]:
                raise ValueError(f"parked fixes of shape {parked.shape}, this engine's are {self.parked.buf.shape[1:]}")
            entry = self.parked.take()
            self.parked.buf[entry] = parked
            self.park[s] = entry + 1

    def _grow(self) -> None:
        old = self.capacity
        # by a quarter, not double: a slot's rows are ~1 KB, and a doubled table of 100k trips
        # would hold up to 100 MB of empty ones (the copy costs more often, and stays rare)
        new = old + max(old // 4, 64)
        for name, empty in self._COLUMNS.items():
            column = getattr(self, name)
            grown = np.full((new,) + column.shape[1:], empty, column.dtype)
            grown[:old] = column
            setattr(self, name, grown)
        self.city = np.concatenate([self.city, np.zeros(new - old, np.int64)])
        self.meta.extend([None] * (new - old))
        self._free.extend(range(new - 1, old - 1, -1))
        self.paths.ensure_slots(new)
        self.index.ensure_slots(new)
        self.corridors.ensure(new)
